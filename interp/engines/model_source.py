"""What vLLM is given for a model spec: a Hugging Face directory it can read.

A directory (or `organism:NAME`) goes as it is. A `.gguf` file, a llama2.c checkpoint or a base with
a LoRA adapter (`BASE+ADAPTER`) is converted once by `interp convert` (dequantized to float32, the
tokenizer and chat template beside the weights) into a cache directory keyed by the source's path,
size and modification time, and vLLM reads that: vLLM 0.32's own GGUF loader does not take a bare
local `.gguf` file (it reads the path as a config.json), and the converted weights are exactly the
ones the hf backend dequantizes, which is what agreement between the two engines needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from interp.errors import InterpError
from interp.models.specs import resolve_spec, split_adapter


def engine_cache_dir() -> Path:
    root = os.environ.get("INTERP_ENGINE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "interp" / "engine"


def engine_model_dir(spec: str | Path) -> Path:
    """A Hugging Face directory holding the model `spec` names, converting it once if needed."""
    kind, where = resolve_spec(spec)
    if kind == "dir":
        return Path(where)
    if kind == "hub":
        raise InterpError(
            f"{spec} is a hub id; the vLLM engine reads local models only",
            fix="download it to a directory first, or use --engine hf",
        )
    out = engine_cache_dir() / _cache_name(str(spec))
    if not (out / "config.json").is_file():
        from interp.models.convert import convert_model

        print(f"interp: converting {spec} for vLLM into {out} (once)", file=sys.stderr, flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        convert_model(str(spec), out)
    return out


def _cache_name(spec: str) -> str:
    """The source files' identity (path, size, mtime), so a changed file converts again."""
    base, adapter = split_adapter(spec)
    parts = []
    for path in [Path(base)] + ([Path(adapter)] if adapter else []):
        path = path.expanduser().resolve()
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return f"{Path(base).name.replace('.', '_')}-{digest}"


def architectures(model_dir: Path) -> list[str]:
    config = model_dir / "config.json"
    try:
        return list(json.loads(config.read_text()).get("architectures") or [])
    except (OSError, json.JSONDecodeError) as err:
        raise InterpError(
            f"cannot read {config} ({err})", fix="give a Hugging Face model directory"
        ) from None


def text_config(model_dir: Path) -> dict:
    """The language model's part of the directory's config.json (empty where it is unreadable)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return config.get("text_config", config) if isinstance(config, dict) else {}


def position_limit(model_dir: Path) -> int:
    """The longest sequence the model's config allows (vLLM refuses a longer max_model_len)."""
    limit = text_config(model_dir).get("max_position_embeddings")
    return int(limit) if isinstance(limit, int) and limit > 0 else 1 << 30


def head_size(model_dir: Path) -> int | None:
    """The attention head width the model's config gives (None where it gives none)."""
    config = text_config(model_dir)
    width = config.get("head_dim")
    if isinstance(width, int):
        return width
    hidden, heads = config.get("hidden_size"), config.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0:
        return hidden // heads
    return None


def check_head_size(model_dir: Path, supported: list[int], where: str) -> None:
    """Refuse, before the engine starts, heads its attention kernels have no version for (vLLM
    itself starts, then fails on the first request)."""
    width = head_size(model_dir)
    if width is not None and width not in supported:
        raise InterpError(
            f"vLLM's {where} attention has no kernel for heads of width {width} ({model_dir}); "
            f"it supports {', '.join(map(str, supported))}",
            fix="use --engine hf for this model",
        )


def check_vllm_runs(model_dir: Path, supported: set[str]) -> None:
    """Refuse, before the engine starts, a model whose architecture vLLM does not implement."""
    names = architectures(model_dir)
    if not names:
        raise InterpError(
            f"{model_dir}/config.json names no architecture, so vLLM cannot tell how to run it",
            fix="use --engine hf",
        )
    if not any(name in supported for name in names):
        raise InterpError(
            f"vLLM cannot run {model_dir}: it has no implementation of {', '.join(names)}",
            fix="use --engine hf",
        )
