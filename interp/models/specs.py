"""What a model spec names, checked without loading anything.

A spec is one string: a Hugging Face directory, a llama2.c checkpoint `*.bin`, a `*.gguf` file, a hub
id (online only), or `SCHEME:NAME` for models other packages know how to find. Schemes are filled from
above: a package registers a resolver (a function from NAME to a Hugging Face directory) with
`register_spec_scheme`, or declares one under the `interp.model_specs` entry-point group, which is how
`organism:NAME` reaches the organism zoo without this layer importing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

from interp.errors import InterpError

SpecKind = Literal["dir", "llama2c", "gguf", "hub"]
SchemeResolver = Callable[[str], Path]

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
SCHEME = re.compile(r"^([a-z][a-z0-9_-]*):(?!//)(.+)$")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
ENTRY_POINT_GROUP = "interp.model_specs"

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
