"""Turn a model spec (one string) into a loaded `Model`, in the precision and placement asked for.

Specs (see `interp.models.specs`): a local Hugging Face directory; a `.gguf` file (dequantized by
transformers, tokenizer and chat template from the file); a llama2.c checkpoint `*.bin`; `SCHEME:NAME`
such as `organism:NAME`; a hub id (online only); any of these `+ADAPTER_DIR`, a LoRA adapter in
peft's format checked against the base and merged into it (`interp.models.adapters`).

Precision: `dtype` defaults to bfloat16 on CUDA and float32 on a CPU. Placement: one `device`, or a
`device_map` ("auto", or a dict from module name to device, "cpu" or "disk") spread by accelerate
within `max_memory`, offloading to `offload_folder` what fits nowhere else.
"""

from __future__ import annotations

import copy as copy_module
import warnings
from copy import deepcopy
from pathlib import Path
from typing import Any, cast

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
from interp.models.specs import resolve_spec, split_adapter

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DeviceMap = str | dict[str, Any]


def load_model(
    spec: str | Path,
    *,
    backend: Backend = "hf",
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: DeviceMap | None = None,
    max_memory: dict[int | str, int | str] | None = None,
    offload_folder: str | Path | None = None,
    tokenizer: str | Path | None = None,
) -> Model:
    """Load a causal LM and its tokenizer from a model spec.

    `device` defaults to CUDA when present, else the CPU; `dtype` to bfloat16 on CUDA and float32
    on a CPU. Pass `device_map="auto"` (with `max_memory`, e.g. {0: "20GiB", "cpu": "60GiB"}) to
    spread a model over several devices, or a dict that places modules by name.

    >>> model = load_model("../shared/models/stories260K/stories260K.bin")   # doctest: +SKIP
    >>> model = load_model("SmolLM2-135M-Instruct.Q4_1.gguf", dtype="bfloat16")  # doctest: +SKIP
    >>> model = load_model("runs/big-model", device_map="auto", max_memory={0: "20GiB"})  # doctest: +SKIP
    """
    quiet_transformers()
    if backend not in ("hf", "bridge"):
        raise InterpError(f"unknown backend {backend!r}", fix="use 'hf' or 'bridge'")
    spec = str(spec)
    target = torch.device(device) if device is not None else default_device()
    torch_dtype = as_dtype(dtype) if dtype is not None else default_dtype(target, device_map)
    if device_map is not None and backend == "bridge":
        raise InterpError(
            "the TransformerLens bridge runs on one device and cannot take a device map",
            fix="use --backend hf with --device-map, or load the model on one --device",
        )
    placement = _placement(target, device_map, max_memory, offload_folder)
    hf_model, hf_tokenizer = _load_hf(spec, tokenizer, torch_dtype, placement)
    if device_map is None:
        hf_model.to(device=target, dtype=torch_dtype)  # type: ignore[call-arg]
    hf_model.eval()
    if hf_tokenizer.pad_token_id is None:
        # Padding needs an id; masked positions never influence real tokens, so any id will do.
        hf_tokenizer.pad_token = hf_tokenizer.eos_token or hf_tokenizer.unk_token
    model = Model(hf=hf_model, tokenizer=hf_tokenizer, spec=spec, backend="hf")
    return with_backend(model, backend, copy=False) if backend != "hf" else model


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device, device_map: DeviceMap | None = None) -> torch.dtype:
    """bfloat16 where the model runs on CUDA, float32 on a CPU (where bf16 matmuls are slow)."""
    on_cuda = device.type == "cuda" or (device_map is not None and torch.cuda.is_available())
    return torch.bfloat16 if on_cuda else torch.float32


def as_dtype(dtype: torch.dtype | str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise InterpError(f"unknown dtype {dtype!r}", fix=f"use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


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
    if getattr(model.hf, "hf_device_map", None) is not None:
        raise InterpError(
            "the TransformerLens bridge runs on one device and cannot wrap a model spread by a "
            "device map",
            fix="load the model on one device to use the bridge",
        )
    from transformer_lens.model_bridge import TransformerBridge

    hf_model = deepcopy(model.hf) if copy else model.hf
    tokenizer = model.tokenizer
    if "name_or_path" not in tokenizer.init_kwargs or str(
        tokenizer.init_kwargs.get("name_or_path", "")
    ).endswith(".gguf"):
        # The bridge reloads a tokenizer from its saved path to turn on BOS; one built in memory
        # (or read from a .gguf) has no such path, and interp passes token ids anyway.
        tokenizer = copy_module.copy(tokenizer)
        tokenizer.init_kwargs = {
            **tokenizer.init_kwargs,
            "name_or_path": model.spec,
            "add_bos_token": True,
        }

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            bridge = TransformerBridge.boot_transformers(
                model.spec,
                hf_model=hf_model,
                tokenizer=tokenizer,
                device=model.device,
                dtype=model.dtype,
            )
        except (ValueError, NotImplementedError, KeyError) as err:
            raise InterpError(
                f"TransformerLens' bridge does not support {model.architecture} models "
                f"({_first_line(err)})",
                fix="use the default backend (--backend hf), which reads every decoder-only family",
            ) from err
    return Model(
        hf=cast(PreTrainedModel, bridge.original_model),
        tokenizer=model.tokenizer,
        spec=model.spec,
        backend="bridge",
        bridge=bridge,
    )


def _placement(
    device: torch.device,
    device_map: DeviceMap | None,
    max_memory: dict[int | str, int | str] | None,
    offload_folder: str | Path | None,
) -> dict[str, Any]:
    """Keyword arguments for `from_pretrained` that place the weights as asked."""
    if device_map is None:
        if max_memory is not None or offload_folder is not None:
            raise InterpError(
                "max_memory and offload_folder only apply with a device map",
                fix="add --device-map auto",
            )
        return {}
    try:
        import accelerate  # noqa: F401  (from_pretrained needs it for any device map)
    except ImportError:
        raise InterpError(
            "a device map needs the accelerate package", fix="pip install accelerate"
        ) from None
    kwargs: dict[str, Any] = {"device_map": device_map}
    if max_memory is not None:
        kwargs["max_memory"] = max_memory
    if offload_folder is not None:
        kwargs["offload_folder"] = str(offload_folder)
    return kwargs


def _load_hf(
    spec: str,
    tokenizer: str | Path | None,
    dtype: torch.dtype,
    placement: dict[str, Any],
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    kind, where = resolve_spec(spec)
    if kind == "adapter":
        from interp.models.adapters import load_adapter_into

        base, adapter = split_adapter(spec)
        assert adapter is not None  # resolve_spec said so
        hf_model, hf_tokenizer = _load_hf(base, tokenizer, dtype, placement)
        load_adapter_into(hf_model, adapter)
        return hf_model, hf_tokenizer
    if kind == "llama2c":
        if placement:
            raise InterpError(
                "a llama2.c checkpoint is built in memory and cannot be spread by a device map",
                fix=f"convert it first (interp convert {spec} --out DIR) and load the directory",
            )
        from interp.models.llama2c import llama2c_to_hf

        return llama2c_to_hf(Path(where), tokenizer)
    if kind == "gguf":
        from interp.models.gguf import load_gguf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, hf_tokenizer = load_gguf(Path(where), dtype=dtype, **placement)
        return model, hf_tokenizer
    if kind == "dir":
        return _load_hf_dir(Path(where), dtype, placement)
    return _load_hub(str(where), dtype, placement)


def _load_hf_dir(
    path: Path, dtype: torch.dtype, placement: dict[str, Any]
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
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
                path, local_files_only=True, dtype=dtype, **placement
            )
    except InterpError:
        raise
    except Exception as err:  # transformers raises many types for bad files; all mean the same here
        raise InterpError(
            f"could not load the weights in {path} ({_first_line(err)})",
            fix="the files may be corrupt or truncated: re-convert or re-download the model",
        ) from err
    return hf_model, hf_tokenizer


def _load_hub(
    name: str, dtype: torch.dtype, placement: dict[str, Any]
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from interp.models.hub import require_hub

    try:  # a model already in the local cache loads offline
        return (
            AutoModelForCausalLM.from_pretrained(
                name, local_files_only=True, dtype=dtype, **placement
            ),
            AutoTokenizer.from_pretrained(name, local_files_only=True),
        )
    except OSError:
        pass
    require_hub(name)
    return (
        AutoModelForCausalLM.from_pretrained(name, dtype=dtype, **placement),
        AutoTokenizer.from_pretrained(name),
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
