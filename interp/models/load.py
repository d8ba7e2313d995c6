"""Turn a model spec (one string) into a loaded `Model`.

Specs: a local Hugging Face directory; a llama2.c checkpoint `*.bin` (tokenizer `tok*.bin` beside it);
`organism:NAME` for a built model organism; a hub id such as `Qwen/Qwen2.5-0.5B` (online only).
"""

from __future__ import annotations

import copy as copy_module
import re
import warnings
from copy import deepcopy
from pathlib import Path
from typing import cast

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from interp.errors import InterpError
from interp.models.model import Backend, Model

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def load_model(
    spec: str | Path,
    *,
    backend: Backend = "hf",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    tokenizer: str | Path | None = None,
) -> Model:
    """Load a causal LM and its tokenizer from a model spec.

    >>> model = load_model("../shared/models/stories260K/stories260K.bin")   # doctest: +SKIP
    >>> model = load_model("runs/tiny-llama", backend="bridge")               # doctest: +SKIP
    """
    quiet_transformers()
    if backend not in ("hf", "bridge"):
        raise InterpError(f"unknown backend {backend!r}", fix="use 'hf' or 'bridge'")
    spec = str(spec)
    hf_model, hf_tokenizer = _load_hf(spec, tokenizer)
    hf_model.to(device=device, dtype=dtype)  # type: ignore[call-arg]  # transformers' typed wrapper
    hf_model.eval()
    if hf_tokenizer.pad_token_id is None:
        # Padding needs an id; masked positions never influence real tokens, so any id will do.
        hf_tokenizer.pad_token = hf_tokenizer.eos_token or hf_tokenizer.unk_token
    model = Model(hf=hf_model, tokenizer=hf_tokenizer, spec=spec, backend="hf")
    return with_backend(model, backend, copy=False) if backend != "hf" else model


def quiet_transformers() -> None:
    """interp reports its own progress; transformers' per-file bars and notices are noise here."""
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def with_backend(model: Model, backend: Backend, *, copy: bool = True) -> Model:
    """The same weights and tokenizer behind another backend.

    The bridge rewires the Hugging Face module it wraps, so by default it wraps a copy and `model`
    stays as it was; pass `copy=False` to save the memory when `model` is not used again.
    """
    if backend == model.backend:
        return model
    if backend == "hf":
        if model.backend == "bridge":
            raise InterpError(
                "a bridge model cannot be unwrapped", fix="load the model again with backend='hf'"
            )
        return model
    from transformer_lens.model_bridge import TransformerBridge

    hf_model = deepcopy(model.hf) if copy else model.hf
    tokenizer = model.tokenizer
    if "name_or_path" not in tokenizer.init_kwargs:
        # The bridge reloads a tokenizer from its saved path to turn on BOS; one built in memory
        # has no path, and interp passes token ids anyway, so hand the bridge this one as it is.
        tokenizer = copy_module.copy(tokenizer)
        tokenizer.init_kwargs = {
            **tokenizer.init_kwargs,
            "name_or_path": model.spec,
            "add_bos_token": True,
        }

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = TransformerBridge.boot_transformers(
            model.spec,
            hf_model=hf_model,
            tokenizer=tokenizer,
            device=model.device,
            dtype=model.dtype,
        )
    return Model(
        hf=cast(PreTrainedModel, bridge.original_model),
        tokenizer=model.tokenizer,
        spec=model.spec,
        backend="bridge",
        bridge=bridge,
    )


def resolve_spec(spec: str | Path) -> tuple[str, str | Path]:
    """What a model spec names, checked without loading anything: ("dir", path) for a Hugging Face
    directory (an organism's included), ("llama2c", path) for a checkpoint, ("hub", id) otherwise.
    Raises `InterpError` for a spec that cannot load, so long runs can check every model first.

    >>> resolve_spec("organism:add-small")          # doctest: +SKIP
    ('dir', PosixPath('.../interp/organisms/zoo/add-small'))
    """
    spec = str(spec)
    if spec.startswith("organism:"):
        from interp.organisms.registry import organism_path

        return "dir", _checked_dir(organism_path(spec.removeprefix("organism:")))
    path = Path(spec).expanduser()
    if path.is_dir():
        return "dir", _checked_dir(path)
    if path.is_file():
        if path.suffix == ".bin" and path.name != "pytorch_model.bin":
            return "llama2c", path
        raise InterpError(
            f"{spec} is a file but not a llama2.c checkpoint (*.bin)",
            fix="pass a Hugging Face model directory, a llama2.c .bin checkpoint, or organism:NAME",
        )
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith(".bin") or "\\" in spec
    if looks_like_path or not HUB_ID.match(spec) or spec.count("/") > 1:
        raise InterpError(
            f"no model at {spec}: no such file or directory",
            fix="check the path; a model spec is a Hugging Face directory, a llama2.c .bin checkpoint, organism:NAME or a hub id",
        )
    return "hub", spec


def _checked_dir(path: Path) -> Path:
    if not (path / "config.json").is_file():
        raise InterpError(
            f"{path} is not a Hugging Face model directory (no config.json)",
            fix="pass a directory written by save_pretrained or `interp convert`",
        )
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise InterpError(
            f"{path} has a config.json but no weights (model.safetensors)",
            fix="copy the weights into the directory or re-run `interp convert`",
        )
    return path


def _load_hf(
    spec: str, tokenizer: str | Path | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    kind, where = resolve_spec(spec)
    if kind == "dir":
        return _load_hf_dir(Path(where))
    if kind == "llama2c":
        from interp.models.llama2c import llama2c_to_hf

        return llama2c_to_hf(Path(where), tokenizer)
    return _load_hub(str(where))


def _load_hf_dir(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A directory `resolve_spec` has checked: its tokenizer and weights."""
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as err:
        raise InterpError(
            f"{path} has no usable tokenizer ({_first_line(err)})",
            fix="save one into the directory with tokenizer.save_pretrained(dir)",
        ) from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf_model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, attn_implementation="sdpa", dtype=torch.float32
            )
    except Exception as err:  # transformers raises many types for bad files; all mean the same here
        raise InterpError(
            f"could not load the weights in {path} ({_first_line(err)})",
            fix="the files may be corrupt or truncated: re-convert or re-download the model",
        ) from err
    return hf_model, hf_tokenizer


def _load_hub(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from interp.models.hub import require_hub

    try:  # a model already in the local cache loads offline
        return (
            AutoModelForCausalLM.from_pretrained(
                name, local_files_only=True, attn_implementation="sdpa"
            ),
            AutoTokenizer.from_pretrained(name, local_files_only=True),
        )
    except OSError:
        pass
    require_hub(name)
    return (
        AutoModelForCausalLM.from_pretrained(name, attn_implementation="sdpa"),
        AutoTokenizer.from_pretrained(name),
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
