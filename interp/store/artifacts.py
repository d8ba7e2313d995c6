"""Artifacts on disk: one safetensors file each, with string metadata saying what it is and what
model it belongs to.

`ModelRef` is the model facts an artifact records (spec, config hash, width, depth) and the check
that refuses a model it was not made on; `write_artifact` / `read_artifact` write and read one file,
refusing a file of another kind; `meta_str`, `meta_int`, `meta_json` and `tensor_named` read its
fields with a clear error where one is missing or damaged. Direction sets, probes and alignment
maps are saved through these.

    ref = ModelRef.of(model)
    write_artifact("d.safetensors", {"vectors": v}, {"kind": "direction_set", **ref.to_metadata()})
    tensors, meta = read_artifact("d.safetensors", "direction_set", "direction set")
    ModelRef.from_metadata(meta, path).check(other_model, what="direction set")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from safetensors import SafetensorError, safe_open
from torch import Tensor

from interp.errors import InterpError
from interp.files import save_safetensors_atomic

DAMAGED = "the file is damaged or from another tool; save it again"


# ---- the model an artifact belongs to ------------------------------------------------------


class ModelLike(Protocol):
    """What artifacts need from a model: `interp.Model` satisfies it."""

    spec: str

    @property
    def n_layers(self) -> int: ...

    @property
    def d_model(self) -> int: ...

    def config_hash(self) -> str: ...


@dataclass(frozen=True)
class ModelRef:
    """The facts about a model that an artifact records, and the check against a loaded model.

    >>> ref = ModelRef.of(model)                                   # doctest: +SKIP
    >>> ref.check(other_model, layers=[0, 3], what="direction set")  # doctest: +SKIP
    """

    spec: str
    config_hash: str
    d_model: int
    n_layers: int

    @classmethod
    def of(cls, model: ModelLike | ModelRef) -> ModelRef:
        if isinstance(model, ModelRef):
            return model
        return cls(str(model.spec), str(model.config_hash()), model.d_model, model.n_layers)

    def check(
        self,
        model: ModelLike | ModelRef,
        *,
        layers: tuple[int, ...] | list[int] = (),
        strict: bool = True,
        what: str = "artifact",
    ) -> None:
        """Refuse `model` unless it has this width, enough layers and (if `strict`) this config.

        `strict=False` accepts a model of the same width and depth whose config hash differs (a
        fine-tuned sibling, another dtype of export), silently: the caller asked for it.
        """
        other = ModelRef.of(model)
        if other.d_model != self.d_model:
            raise InterpError(
                f"the {what} is {self.d_model} wide (made on {self.spec!r}) but {other.spec!r} "
                f"has d_model {other.d_model}",
                fix=f"apply it to a model with d_model {self.d_model}, or map it into the "
                "other model's space first (interp align)",
            )
        if layers and max(layers) >= other.n_layers:
            raise InterpError(
                f"the {what} covers layer {max(layers)} but {other.spec!r} has only "
                f"{other.n_layers} layers",
                fix=f"apply it to a model with at least {max(layers) + 1} layers, or keep only "
                "the layers that exist",
            )
        if strict and self.config_hash and other.config_hash != self.config_hash:
            raise InterpError(
                f"the {what} was made on {self.spec!r} (config hash {self.config_hash}) but the "
                f"model is {other.spec!r} (config hash {other.config_hash})",
                fix="use the model it was made on, or pass strict=False to accept a model of "
                "the same width with another config",
            )

    def to_metadata(self, prefix: str = "model_") -> dict[str, str]:
        return {
            f"{prefix}spec": self.spec,
            f"{prefix}config_hash": self.config_hash,
            f"{prefix}d_model": str(self.d_model),
            f"{prefix}n_layers": str(self.n_layers),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str], path: Path, prefix: str = "model_") -> ModelRef:
        return cls(
            spec=meta_str(meta, f"{prefix}spec", path),
            config_hash=meta_str(meta, f"{prefix}config_hash", path),
            d_model=meta_int(meta, f"{prefix}d_model", path),
            n_layers=meta_int(meta, f"{prefix}n_layers", path),
        )


# ---- artifact files ------------------------------------------------------------------------


def write_artifact(
    path: str | Path, tensors: Mapping[str, Tensor], meta: Mapping[str, str]
) -> Path:
    """Write one safetensors artifact atomically; returns the path."""
    save_safetensors_atomic(path, dict(tensors), dict(meta))
    return Path(path)


def read_artifact(
    path: str | Path, kind: str, what: str
) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of the safetensors artifact at `path`, refusing any other kind of file.

    >>> tensors, meta = read_artifact("d.safetensors", "direction_set", "direction set")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise InterpError(f"no {what} file at {path}", fix="check the path")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            found = meta.get("kind")
            if found != kind:
                described = f"a {found!r} file" if found else "not an interp artifact (no 'kind')"
                raise InterpError(
                    f"{path} is not a {what}: it is {described}",
                    fix=f"pass a file saved as a {what}",
                )
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise InterpError(
            f"{path} is not a readable safetensors {what} ({err})",
            fix="the file is damaged or of another format; save it again",
        ) from None
    return tensors, meta


def meta_str(meta: Mapping[str, str], key: str, path: Path) -> str:
    if key not in meta:
        raise InterpError(
            f"{path} lacks the metadata key {key!r}",
            fix=DAMAGED,
        )
    return meta[key]


def meta_int(meta: Mapping[str, str], key: str, path: Path) -> int:
    value = meta_json(meta, key, path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InterpError(f"{path} has a non-integer {key!r} ({value!r})", fix=DAMAGED)
    return value


def meta_json(meta: Mapping[str, str], key: str, path: Path) -> Any:
    text = meta_str(meta, key, path)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise InterpError(
            f"{path} has an unreadable {key!r} ({text!r})",
            fix=DAMAGED,
        ) from None


def tensor_named(tensors: Mapping[str, Tensor], key: str, path: Path) -> Tensor:
    if key not in tensors:
        raise InterpError(
            f"{path} lacks the tensor {key!r}",
            fix=DAMAGED,
        )
    return tensors[key]
