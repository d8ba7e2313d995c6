"""`DirectionSet`: one direction per layer at one hook kind, with where it came from.

A direction set is the output of `interp extract` and the input of steering and of cross-model
transfer. It is a frozen value object: per-layer vectors as one `(n_layers_covered, d_model)`
tensor, the model layers they belong to, the hook kind, and provenance (model, method, data).

    ds = DirectionSet.from_contrast(pos_acts, neg_acts, method="mean_difference", model=model)
    steer = 4.0 * ds.normalized()            # algebra: + - * / neg
    ds.save("cot.safetensors")
    ds = DirectionSet.load("cot.safetensors", model=model)   # refuses another model

Files are safetensors (no pickle): one tensor `vectors` and string metadata with `"kind":
"direction_set"`; keys follow `interp.store.provenance` (`model_spec`, `model_config_hash`,
`dataset_hash`, `n_items`, `interp_version`), written and read through `interp.store.artifacts`.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.directions.aggregators import PAIRED, get_aggregator
from interp.errors import InterpError
from interp.hooks.names import HOOK_KINDS, parse_hook
from interp.store.artifacts import (
    ModelLike,
    ModelRef,
    meta_int,
    meta_json,
    meta_str,
    read_artifact,
    tensor_named,
    write_artifact,
)
from interp.store.provenance import library_version

FORMAT_VERSION = "1"
KIND = "direction_set"


# ---- the value object ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class DirectionSet:
    """Per-layer directions at one hook kind, with provenance.

    `vectors[i]` is the direction at model layer `layers[i]` (hook `blocks.{layers[i]}.hook_{hook}`).
    Layers are strictly increasing and lie inside the model; the width equals `model.d_model`.

    >>> ds = DirectionSet(torch.randn(2, 8), (1, 3), ModelRef("m", "ab", 8, 4), hook="resid_post")
    >>> (ds - ds).vector(3).abs().max()
    tensor(0.)
    """

    vectors: Float[Tensor, "layer d_model"]
    layers: tuple[int, ...]
    model: ModelRef
    hook: str = "resid_post"
    method: str = "mean_difference"
    dataset_hash: str = ""
    count: int = 0
    interp_version: str = field(default_factory=library_version)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(layer) for layer in self.layers))
        v, layers = self.vectors, self.layers
        if not isinstance(v, Tensor) or v.ndim != 2:
            raise InterpError(
                f"direction vectors must be a (layers, d_model) tensor, got "
                f"{tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__}",
                fix="stack one row per layer",
            )
        if v.shape[0] != len(layers):
            raise InterpError(
                f"{v.shape[0]} direction rows for {len(layers)} layers {list(layers)}",
                fix="give one row per listed layer",
            )
        if any(b <= a for a, b in zip(layers, layers[1:], strict=False)):
            raise InterpError(
                f"direction layers {list(layers)} are not strictly increasing",
                fix="list each layer once, in order",
            )
        if layers and not 0 <= layers[0] <= layers[-1] < self.model.n_layers:
            raise InterpError(
                f"direction layers {list(layers)} fall outside the model's {self.model.n_layers} "
                "layers",
                fix=f"use layers in 0..{self.model.n_layers - 1}",
            )
        if v.shape[1] != self.model.d_model:
            raise InterpError(
                f"directions are {v.shape[1]} wide but the model's d_model is {self.model.d_model}",
                fix="build the set from activations of that model",
            )
        if self.hook not in HOOK_KINDS:
            raise InterpError(
                f"unknown hook kind {self.hook!r}", fix=f"use one of {', '.join(HOOK_KINDS)}"
            )

    # ---- reading -------------------------------------------------------------------------
    @property
    def d_model(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def hook_names(self) -> list[str]:
        """`blocks.{layer}.hook_{hook}` for every covered layer, in order."""
        return [f"blocks.{layer}.hook_{self.hook}" for layer in self.layers]

    def vector(self, layer: int) -> Float[Tensor, " d_model"]:
        """The direction at model layer `layer` (negative counts from the model's last layer)."""
        resolved = layer + self.model.n_layers if layer < 0 else layer
        if resolved not in self.layers:
            raise InterpError(
                f"the direction set has no layer {layer}; it covers {list(self.layers)}",
                fix="pick one of the covered layers",
            )
        return self.vectors[self.layers.index(resolved)]

    def as_dict(self) -> dict[str, Tensor]:
        """`{hook name: vector}`, the form steering hooks are keyed by."""
        return dict(zip(self.hook_names, self.vectors, strict=True))

    def normalized(self) -> DirectionSet:
        """Every layer's vector scaled to unit norm (an all-zero vector stays zero)."""
        norms = self.vectors.norm(dim=-1, keepdim=True)  # (L, 1)
        unit = torch.where(norms > 0, self.vectors / norms.clamp_min(1e-30), self.vectors)
        return replace(self, vectors=unit, method=f"normalized({self.method})")

    def to(self, *args: Any, **kwargs: Any) -> DirectionSet:
        """A copy with the vectors moved or cast, as `Tensor.to`."""
        return replace(self, vectors=self.vectors.to(*args, **kwargs))

    # ---- algebra ---------------------------------------------------------------------------
    def _combine(self, other: object, sign: float, symbol: str) -> DirectionSet:
        if not isinstance(other, DirectionSet):
            return NotImplemented
        if other.layers != self.layers or other.d_model != self.d_model or other.hook != self.hook:
            raise InterpError(
                f"cannot {symbol} direction sets over different points: layers "
                f"{list(self.layers)} at {self.hook} ({self.d_model} wide) vs layers "
                f"{list(other.layers)} at {other.hook} ({other.d_model} wide)",
                fix="combine sets extracted at the same hook, layers and width",
            )
        a, b = self.model.config_hash, other.model.config_hash
        if a and b and a != b:
            raise InterpError(
                f"cannot {symbol} directions of different models: {self.model.spec!r} "
                f"(config hash {a}) and {other.model.spec!r} (config hash {b})",
                fix="map one set into the other model's space first (interp align)",
            )
        same_data = self.dataset_hash == other.dataset_hash
        return replace(
            self,
            vectors=self.vectors + sign * other.vectors,
            method=f"({self.method}) {symbol} ({other.method})",
            dataset_hash=self.dataset_hash
            if same_data
            else f"{self.dataset_hash}{symbol}{other.dataset_hash}",
            count=self.count if same_data else self.count + other.count,
        )

    def __add__(self, other: object) -> DirectionSet:
        return self._combine(other, 1.0, "+")

    def __sub__(self, other: object) -> DirectionSet:
        return self._combine(other, -1.0, "-")

    def __mul__(self, scale: object) -> DirectionSet:
        if isinstance(scale, Tensor) and scale.ndim == 0:
            scale = scale.item()
        if not isinstance(scale, numbers.Real):
            return NotImplemented
        return replace(
            self, vectors=self.vectors * float(scale), method=f"{scale:g} * ({self.method})"
        )

    __rmul__ = __mul__

    def __truediv__(self, scale: object) -> DirectionSet:
        if isinstance(scale, Tensor) and scale.ndim == 0:
            scale = scale.item()
        if not isinstance(scale, numbers.Real):
            return NotImplemented
        return replace(
            self, vectors=self.vectors / float(scale), method=f"({self.method}) / {scale:g}"
        )

    def __neg__(self) -> DirectionSet:
        return replace(self, vectors=-self.vectors, method=f"-({self.method})")

    def __eq__(self, other: object) -> bool:
        """Exact equality: same provenance, same dtype and same numbers."""
        if not isinstance(other, DirectionSet):
            return NotImplemented
        return (
            self._metadata() == other._metadata()
            and self.vectors.dtype == other.vectors.dtype
            and torch.equal(self.vectors.cpu(), other.vectors.cpu())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable tensor inside: not hashable

    def __repr__(self) -> str:
        return (
            f"DirectionSet(hook={self.hook!r}, layers={list(self.layers)}, d_model={self.d_model}, "
            f"method={self.method!r}, model={self.model.spec!r}, count={self.count})"
        )

    # ---- checks and files ----------------------------------------------------------------
    def check_model(self, model: ModelLike | ModelRef, *, strict: bool = True) -> None:
        """Refuse a model of another width or with too few layers; with `strict`, another config.

        >>> ds.check_model(model)                   # doctest: +SKIP
        """
        self.model.check(model, layers=self.layers, strict=strict, what="direction set")

    def _metadata(self) -> dict[str, str]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "hook": self.hook,
            "layers": json.dumps(list(self.layers)),
            "hooks": json.dumps(self.hook_names),
            **self.model.to_metadata(),
            "method": self.method,
            "dataset_hash": self.dataset_hash,
            "n_items": str(self.count),
            "interp_version": self.interp_version,
        }

    def save(self, path: str | Path) -> Path:
        """Write the set as one safetensors file (atomically); returns the path.

        >>> ds.save("runs/cot/directions.safetensors")   # doctest: +SKIP
        """
        return write_artifact(path, {"vectors": self.vectors}, self._metadata())

    @classmethod
    def load(
        cls, path: str | Path, *, model: ModelLike | ModelRef | None = None, strict: bool = True
    ) -> DirectionSet:
        """Read a set saved by `save`; with `model`, also `check_model(model, strict=strict)`.

        Refuses files that are not direction sets or are damaged, with a clear `InterpError`.

        >>> ds = DirectionSet.load("directions.safetensors", model=model)   # doctest: +SKIP
        """
        path = Path(path)
        tensors, meta = read_artifact(path, KIND, "direction set")
        layers = meta_json(meta, "layers", path)
        if not isinstance(layers, list) or not all(isinstance(x, int) for x in layers):
            raise InterpError(
                f"{path} has unreadable layers {meta.get('layers')!r}",
                fix="the file is damaged; save it again",
            )
        loaded = cls(
            vectors=tensor_named(tensors, "vectors", path),
            layers=tuple(layers),
            model=ModelRef.from_metadata(meta, path),
            hook=meta_str(meta, "hook", path),
            method=meta_str(meta, "method", path),
            dataset_hash=meta_str(meta, "dataset_hash", path),
            count=meta_int(meta, "n_items", path),
            interp_version=meta_str(meta, "interp_version", path),
        )
        if model is not None:
            loaded.check_model(model, strict=strict)
        return loaded

    # ---- building ----------------------------------------------------------------------------
    @classmethod
    def from_contrast(
        cls,
        positive: Mapping[str, Float[Tensor, "n d_model"]],
        negative: Mapping[str, Float[Tensor, "n d_model"]],
        method: str = "mean_difference",
        *,
        model: ModelLike | ModelRef,
        dataset_hash: str = "",
        count: int | None = None,
    ) -> DirectionSet:
        """Aggregate a contrast per hook into a set: `v_l = method(positive[hook_l], negative[hook_l])`.

        Keys are hook names (`blocks.3.hook_resid_post`, negative layers allowed), all of one kind,
        as `capture(...).activations` returns them. `count` defaults to the number of items: the
        rows of one side for paired methods, both sides' rows for unpaired ones.

        >>> pos = capture(model, unlocked_prompts, "resid_post").activations    # doctest: +SKIP
        >>> neg = capture(model, locked_prompts, "resid_post").activations      # doctest: +SKIP
        >>> ds = DirectionSet.from_contrast(pos, neg, model=model,              # doctest: +SKIP
        ...                                 dataset_hash=dataset_hash(items))
        """
        aggregate = get_aggregator(method)
        ref = ModelRef.of(model)
        if set(positive) != set(negative):
            raise InterpError(
                f"positive and negative activations are read at different hooks: "
                f"{sorted(set(positive) ^ set(negative))} on one side only",
                fix="capture both sides at the same hooks",
            )
        if not positive:
            raise InterpError("no activations to aggregate", fix="pass at least one hook's rows")
        points = {parse_hook(name, ref.n_layers): name for name in positive}
        kinds = sorted({p.kind for p in points})
        if len(kinds) > 1:
            raise InterpError(
                f"a direction set holds one hook kind, but the activations mix {kinds}",
                fix="build one set per hook kind",
            )
        ordered = sorted(points)
        if len({p.layer for p in ordered}) != len(ordered):
            raise InterpError(
                "two activation keys name the same layer (e.g. blocks.-1 and blocks.{L-1})",
                fix="pass each layer once",
            )
        vectors = torch.stack(
            [aggregate(positive[points[p]], negative[points[p]]) for p in ordered]
        )  # (L, d)
        if count is None:
            first = points[ordered[0]]
            n_pos, n_neg = positive[first].shape[0], negative[first].shape[0]
            count = n_pos if method in PAIRED else n_pos + n_neg
        return cls(
            vectors=vectors,
            layers=tuple(p.layer for p in ordered),
            model=ref,
            hook=kinds[0],
            method=method,
            dataset_hash=dataset_hash,
            count=int(count),
        )
