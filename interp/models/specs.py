"""What a model spec names, checked without loading anything.

A spec is one string: a Hugging Face directory, a llama2.c checkpoint `*.bin`, a `*.gguf` file, a hub
id (online only), or `SCHEME:NAME` for models other packages know how to find. Schemes are filled from
above: a package registers a resolver (a function from NAME to a Hugging Face directory) with
`register_spec_scheme`, or declares one under the `interp.model_specs` entry-point group, which is how
`organism:NAME` reaches the organism zoo without this layer importing it.

Any of these followed by `+ADAPTER_DIR` names that base with a LoRA adapter (peft's file format)
merged into it: `SmolLM2-135M-Instruct.Q4_1.gguf+organisms/smollm2-a` (see `interp.models.adapters`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

from interp.errors import InterpError

SpecKind = Literal["dir", "llama2c", "gguf", "hub", "adapter"]
SchemeResolver = Callable[[str], Path]

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
SCHEME = re.compile(r"^([a-z][a-z0-9_-]*):(?!//)(.+)$")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ENTRY_POINT_GROUP = "interp.model_specs"
ADAPTER_SEPARATOR = "+"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")

_schemes: dict[str, SchemeResolver] = {}


def register_spec_scheme(scheme: str, resolver: SchemeResolver) -> None:
    """Make `scheme:NAME` specs resolve through `resolver(NAME) -> Hugging Face directory`."""
    _schemes[scheme] = resolver


def resolve_spec(spec: str | Path) -> tuple[SpecKind, Path | str]:
    """What a model spec names, as (kind, path or hub id); raises `InterpError` for a spec that cannot load, so long runs can
    check every model before any work.

    >>> resolve_spec("organism:add-small")          # doctest: +SKIP
    ('dir', PosixPath('.../interp/organisms/zoo/add-small'))
    """
    spec = str(spec)
    base, adapter = split_adapter(spec)
    if adapter is not None:
        checked_adapter_dir(adapter)
        kind, _ = resolve_spec(base)
        if kind == "adapter":
            raise InterpError(
                f"{spec} names more than one adapter", fix="merge one adapter per model spec"
            )
        return ("adapter", spec)
    path = Path(spec).expanduser()
    scheme = SCHEME.match(spec)
    if scheme and not path.exists():
        return ("dir", checked_dir(_scheme_resolver(scheme.group(1))(scheme.group(2))))
    if path.is_dir():
        return ("dir", checked_dir(path))
    if path.is_file():
        if path.suffix == ".gguf":
            from interp.models.gguf import check_gguf

            check_gguf(path)
            return ("gguf", path)
        if path.suffix == ".bin" and path.name != "pytorch_model.bin":
            return ("llama2c", path)
        raise InterpError(
            f"{spec} is a file but neither a GGUF model (.gguf) nor a llama2.c checkpoint (.bin)",
            fix="pass a Hugging Face model directory, a .gguf file, a llama2.c .bin checkpoint, "
            "or organism:NAME",
        )
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith((".bin", ".gguf"))
    if looks_like_path or "\\" in spec or not HUB_ID.match(spec) or spec.count("/") > 1:
        raise InterpError(
            f"no model at {spec}: no such file or directory",
            fix="check the path; a model spec is a Hugging Face directory, a .gguf file, a llama2.c "
            ".bin checkpoint, organism:NAME or a hub id",
        )
    return ("hub", spec)


def split_adapter(spec: str | Path) -> tuple[str, Path | None]:
    """`BASE+ADAPTER_DIR` as (BASE, the adapter directory); any other spec as (spec, None).

    A path that exists is never split, so a file or directory whose name holds '+' still loads;
    of several '+', the last one after which a directory exists separates the adapter.

    >>> split_adapter("model.gguf+adapters/a")          # doctest: +SKIP
    ('model.gguf', PosixPath('adapters/a'))
    """
    spec = str(spec)
    if ADAPTER_SEPARATOR not in spec or Path(spec).expanduser().exists():
        return spec, None
    cuts = [i for i, c in enumerate(spec) if c == ADAPTER_SEPARATOR and 0 < i < len(spec) - 1]
    if not cuts:
        return spec, None
    for cut in reversed(cuts):
        if Path(spec[cut + 1 :]).expanduser().is_dir():
            return spec[:cut], Path(spec[cut + 1 :]).expanduser()
    return spec[: cuts[-1]], Path(spec[cuts[-1] + 1 :]).expanduser()


def checked_adapter_dir(path: Path) -> Path:
    """`path` if it holds a LoRA adapter's two files, else a clear error."""
    if not path.is_dir():
        raise InterpError(
            f"no adapter directory at {path}",
            fix="write BASE+ADAPTER_DIR, where ADAPTER_DIR holds adapter_config.json and "
            "adapter_model.safetensors",
        )
    for name in ADAPTER_FILES:
        if not (path / name).is_file():
            raise InterpError(
                f"adapter {path} has no {name}",
                fix="pass a directory saved by peft (safe_serialization) or by "
                "`interp organisms build-real`",
            )
    return path


def checked_dir(path: Path) -> Path:
    """`path` if it is a Hugging Face model directory with weights, else a clear error."""
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


def _scheme_resolver(scheme: str) -> SchemeResolver:
    if scheme not in _schemes:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if entry.name == scheme:
                _schemes[scheme] = entry.load()
    if scheme not in _schemes:
        known = sorted(set(_schemes) | {e.name for e in entry_points(group=ENTRY_POINT_GROUP)})
        raise InterpError(
            f"unknown model spec scheme {scheme!r}",
            fix=f"use one of {', '.join(f'{k}:NAME' for k in known)}, a path or a hub id"
            if known
            else "pass a path or a hub id",
        )
    return _schemes[scheme]
