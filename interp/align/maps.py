"""`LayerMaps`: one linear map per target layer, with the source layer feeding it.

Fitted from the same items' activations in both models (`fit_layer_maps`, any fitter of
`interp.align.fitters`, layers matched by depth, CKA or a given list); saved as one file; carries a
`DirectionSet` from source to target space, `v_j = d_{i(j)} @ T_j`.

    maps = fit_layer_maps(src.activations, tgt.activations, source=src_model, target=tgt_model,
                          fit="unlock", rank=16)
    transferred = maps.apply(directions)            # a DirectionSet of the target model
    maps.save("maps.safetensors")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.align.fitters import get_fitter
from interp.align.layers import cka_layer_map, depth_layer_map
from interp.align.linear_map import FORMAT_VERSION, LinearMap
from interp.directions.direction_set import DirectionSet
from interp.errors import InterpError
from interp.hooks.names import HOOK_KINDS, parse_hook
from interp.store.artifacts import (
    DAMAGED,
    ModelLike,
    ModelRef,
    meta_int,
    meta_json,
    meta_str,
    read_artifact,
    write_artifact,
)
from interp.store.provenance import library_version

LAYER_MAPS_KIND = "layer_maps"


@dataclass(frozen=True, eq=False, repr=False)
class LayerMaps:
    """Per-target-layer maps: `maps[j] = (i, map)` sends source layer i into target layer j.

    `source` and `target` record the two models; `hook` the hook kind read on both;
    `layer_rule` how source layers were matched ("depth", "cka" or "given").

    >>> source_layer, linear_map = maps[5]          # doctest: +SKIP
    >>> transferred = maps.apply(directions)        # doctest: +SKIP
    """

    maps: Mapping[int, tuple[int, LinearMap]]
    source: ModelRef
    target: ModelRef
    hook: str = "resid_post"
    layer_rule: str = "depth"
    dataset_hash: str = ""
    count: int = 0
    interp_version: str = field(default_factory=library_version)

    def __post_init__(self) -> None:
        ordered = {int(j): (int(i), m) for j, (i, m) in sorted(self.maps.items())}
        object.__setattr__(self, "maps", ordered)
        if not ordered:
            raise InterpError("layer maps need at least one layer", fix="fit at least one layer")
        if self.hook not in HOOK_KINDS:
            raise InterpError(
                f"unknown hook kind {self.hook!r}", fix=f"use one of {', '.join(HOOK_KINDS)}"
            )
        for j, (i, m) in ordered.items():
            if not 0 <= j < self.target.n_layers or not 0 <= i < self.source.n_layers:
                raise InterpError(
                    f"map from source layer {i} to target layer {j} is outside the models "
                    f"({self.source.n_layers} and {self.target.n_layers} layers)",
                    fix="use layers that exist in both models",
                )
            if (m.d_source, m.d_target) != (self.source.d_model, self.target.d_model):
                raise InterpError(
                    f"the map for target layer {j} is {m.d_source} -> {m.d_target} but the models "
                    f"are {self.source.d_model} -> {self.target.d_model} wide",
                    fix="fit the maps on activations of these two models",
                )

    @property
    def target_layers(self) -> list[int]:
        return list(self.maps)

    @property
    def source_layers(self) -> list[int]:
        """The source layer feeding each target layer, in target-layer order (may repeat)."""
        return [i for i, _ in self.maps.values()]

    def __getitem__(self, target_layer: int) -> tuple[int, LinearMap]:
        if target_layer not in self.maps:
            raise InterpError(
                f"no map into target layer {target_layer}; maps cover {self.target_layers}",
                fix="pick one of the covered target layers",
            )
        return self.maps[target_layer]

    def __len__(self) -> int:
        return len(self.maps)

    def __repr__(self) -> str:
        kinds = sorted({m.kind for _, m in self.maps.values()})
        return (
            f"LayerMaps({self.source.spec!r} -> {self.target.spec!r}, hook={self.hook!r}, "
            f"{len(self)} layers, source_layers={self.source_layers}, kind={kinds})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerMaps):
            return NotImplemented
        return self._metadata() == other._metadata() and all(
            a == b for (_, a), (_, b) in zip(self.maps.values(), other.maps.values(), strict=True)
        )

    __hash__ = None  # type: ignore[assignment]

    def apply(self, directions: DirectionSet, *, strict: bool = True) -> DirectionSet:
        """Carry a source-model direction set into target space: `v_j = d_{i(j)} @ T_j`.

        Refuses a set of another hook kind or width, one missing a source layer the maps read,
        or (with `strict`) one made on a model whose config differs from the maps' source.

        >>> target_ds = maps.apply(source_ds)         # doctest: +SKIP
        """
        if directions.hook != self.hook:
            raise InterpError(
                f"the maps were fitted at hook_{self.hook} but the directions are at "
                f"hook_{directions.hook}",
                fix="extract the directions at the hook the maps were fitted on",
            )
        if directions.d_model != self.source.d_model:
            raise InterpError(
                f"the directions are {directions.d_model} wide but the maps take "
                f"{self.source.d_model}-wide source vectors (from {self.source.spec!r})",
                fix="use directions from the maps' source model",
            )
        missing = sorted(set(self.source_layers) - set(directions.layers))
        if missing:
            raise InterpError(
                f"the maps read source layers {sorted(set(self.source_layers))} but the direction "
                f"set covers only {list(directions.layers)} (missing {missing})",
                fix="extract directions at every source layer the maps use, or fit maps for "
                "the layers you have",
            )
        self.source.check(directions.model, strict=strict, what="layer maps' source model")
        vectors = torch.stack(
            [m.apply_direction(directions.vector(i)) for i, m in self.maps.values()]
        )  # (L_T, d_T)
        kinds = "+".join(sorted({m.kind for _, m in self.maps.values()}))
        return DirectionSet(
            vectors=vectors,
            layers=tuple(self.target_layers),
            model=self.target,
            hook=self.hook,
            method=f"{directions.method} -> {kinds}",
            dataset_hash=directions.dataset_hash,
            count=directions.count,
        )

    def check_models(
        self,
        source: ModelLike | ModelRef | None = None,
        target: ModelLike | ModelRef | None = None,
        *,
        strict: bool = True,
    ) -> None:
        """Refuse a source or target model the maps were not fitted on (width, depth, config)."""
        if source is not None:
            self.source.check(
                source, layers=self.source_layers, strict=strict, what="layer maps' source"
            )
        if target is not None:
            self.target.check(
                target, layers=self.target_layers, strict=strict, what="layer maps' target"
            )

    # ---- files -------------------------------------------------------------------------------
    def _metadata(self) -> dict[str, str]:
        entries = [
            {"target_layer": j, "source_layer": i, **m._header()} for j, (i, m) in self.maps.items()
        ]
        return {
            "kind": LAYER_MAPS_KIND,
            "format_version": FORMAT_VERSION,
            "hook": self.hook,
            "layer_rule": self.layer_rule,
            "maps": json.dumps(entries, sort_keys=True),
            **self.source.to_metadata("source_"),
            **self.target.to_metadata("target_"),
            "dataset_hash": self.dataset_hash,
            "n_items": str(self.count),
            "interp_version": self.interp_version,
        }

    def save(self, path: str | Path) -> Path:
        """Write every layer's map into one safetensors file (`"kind": "layer_maps"`)."""
        tensors: dict[str, Tensor] = {}
        for j, (_, m) in self.maps.items():
            tensors.update(m._tensors(f"layer.{j}."))
        return write_artifact(path, tensors, self._metadata())

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        source: ModelLike | ModelRef | None = None,
        target: ModelLike | ModelRef | None = None,
        strict: bool = True,
    ) -> LayerMaps:
        """Read maps saved by `LayerMaps.save`; with models given, also `check_models`."""
        path = Path(path)
        tensors, meta = read_artifact(path, LAYER_MAPS_KIND, "layer maps file")
        entries = meta_json(meta, "maps", path)
        if not isinstance(entries, list):
            raise InterpError(f"{path} has an unreadable map list", fix=DAMAGED)
        maps: dict[int, tuple[int, LinearMap]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not {"target_layer", "source_layer"} <= set(entry):
                raise InterpError(f"{path} has an unreadable map entry", fix=DAMAGED)
            j = int(entry["target_layer"])
            maps[j] = (
                int(entry["source_layer"]),
                LinearMap._from_parts(tensors, entry, f"layer.{j}.", path),
            )
        loaded = cls(
            maps=maps,
            source=ModelRef.from_metadata(meta, path, "source_"),
            target=ModelRef.from_metadata(meta, path, "target_"),
            hook=meta_str(meta, "hook", path),
            layer_rule=meta_str(meta, "layer_rule", path),
            dataset_hash=meta_str(meta, "dataset_hash", path),
            count=meta_int(meta, "n_items", path),
            interp_version=meta_str(meta, "interp_version", path),
        )
        loaded.check_models(source, target, strict=strict)
        return loaded


def fit_layer_maps(
    source_acts: Mapping[str, Float[Tensor, "n d_source"]],
    target_acts: Mapping[str, Float[Tensor, "n d_target"]],
    *,
    source: ModelLike | ModelRef,
    target: ModelLike | ModelRef,
    fit: str = "unlock",
    layers: str | Sequence[int] = "depth",
    dataset_hash: str = "",
    **opts: Any,
) -> LayerMaps:
    """Fit one map per target layer from the same items' activations in both models.

    `source_acts` / `target_acts` are keyed by hook name (as `capture(...).activations`), one hook
    kind. `layers` picks the source layer for each target layer: "depth" (`depth_layer_map` over
    the models' full depths), "cka" (best `linear_cka` among the captured source layers), or a
    list giving the source layer for every target layer `0..L_T-1`. `opts` go to the fitter.

    >>> import interp
    >>> small, medium = interp.load_model("organism:add-small"), interp.load_model("organism:add-medium")
    >>> prompts = [f"Q:{a}+{a + 1}=?" for a in range(24)]
    >>> src = interp.capture_activations(small, prompts, "resid_post", progress=False).activations
    >>> tgt = interp.capture_activations(medium, prompts, "resid_post", progress=False).activations
    >>> maps = interp.fit_layer_maps(src, tgt, source=small, target=medium, fit="unlock", rank=4)
    >>> {target: source for target, (source, _) in maps.maps.items()}   # matched by depth
    {0: 0, 1: 0, 2: 1}
    """
    fitter = get_fitter(fit)
    src_ref, tgt_ref = ModelRef.of(source), ModelRef.of(target)
    src_hook, src = _by_layer(source_acts, src_ref, "source")
    tgt_hook, tgt = _by_layer(target_acts, tgt_ref, "target")
    if src_hook != tgt_hook:
        raise InterpError(
            f"source activations are at hook_{src_hook} but target ones at hook_{tgt_hook}",
            fix="read both models at the same hook kind",
        )
    if isinstance(layers, str) and layers == "depth":
        full = depth_layer_map(src_ref.n_layers, tgt_ref.n_layers)
        chosen = {j: full[j] for j in tgt}
    elif isinstance(layers, str) and layers == "cka":
        candidates = sorted(src)
        best = cka_layer_map([src[i] for i in candidates], [tgt[j] for j in tgt]).layer_map
        chosen = {j: candidates[b] for j, b in zip(tgt, best, strict=True)}
    elif not isinstance(layers, str) and len(layers) == tgt_ref.n_layers:
        chosen = {j: int(layers[j]) for j in tgt}
    else:
        raise InterpError(
            f"unknown layer matching {layers!r}",
            fix=f"use 'depth', 'cka', or a list of {tgt_ref.n_layers} source layers",
        )
    missing = sorted(set(chosen.values()) - set(src))
    if missing:
        raise InterpError(
            f"the layer matching needs source layers {missing}, which were not captured",
            fix="capture the source model at every layer (hooks 'resid_post')",
        )
    maps = {j: (i, fitter(src[i], tgt[j], **opts)) for j, i in chosen.items()}
    counts = {int(x.shape[0]) for x in tgt.values()}
    return LayerMaps(
        maps=maps,
        source=src_ref,
        target=tgt_ref,
        hook=src_hook,
        layer_rule=layers if isinstance(layers, str) else "given",
        dataset_hash=dataset_hash,
        count=counts.pop() if len(counts) == 1 else 0,
    )


def _by_layer(
    acts: Mapping[str, Tensor], ref: ModelRef, side: str
) -> tuple[str, dict[int, Tensor]]:
    if not acts:
        raise InterpError(f"no {side} activations", fix="pass capture(...).activations")
    points = [(parse_hook(name, ref.n_layers), x) for name, x in acts.items()]
    kinds = {p.kind for p, _ in points}
    if len(kinds) > 1:
        raise InterpError(
            f"{side} activations mix hook kinds {sorted(kinds)}",
            fix="align one hook kind at a time",
        )
    return kinds.pop(), {p.layer: x for p, x in sorted(points, key=lambda px: px[0])}
