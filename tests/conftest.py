"""Shared fixtures: tiny models of every test architecture, saved once per session, offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from interp.models.tiny import TINY_ARCHITECTURES, save_tiny_model  # noqa: E402

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
