"""Linear maps from one model's activation space to another's, per layer.

Convention everywhere: activations are rows, a map is a `(d_source, d_target)` matrix `W` applied on
the right, `x_T ~ (x_S - mu_S) @ W + mu_T` (the means only when the fit centred), and a direction
maps without the means, `v_T = v_S @ W`: a direction is a difference of activations, so any offset
cancels.

Fitters share one signature, `fit(X_S: (N, d_S), X_T: (N, d_T), **opts) -> LinearMap`, where row n
of both holds the same item:
- `fit_unlock`: rank-k least squares between principal subspaces (UNLOCK, methods.md section 1);
- `fit_ridge`: ridge regression, optionally affine;
- `fit_procrustes`: orthogonal (semi-orthogonal when widths differ) Procrustes.

`LayerMaps` holds one map per target layer with the source layer feeding it, saves as one file, and
carries a `DirectionSet` from source to target space.

    maps = fit_layer_maps(src.activations, tgt.activations, source=src_model, target=tgt_model,
                          fit="unlock", rank=16)
    transferred = maps.apply(directions)            # a DirectionSet of the target model
    maps.save("maps.safetensors")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.align.layers import cka_layer_map, depth_layer_map
from interp.directions.direction_set import DirectionSet
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
MAP_KIND = "alignment_map"
LAYER_MAPS_KIND = "layer_maps"
_DAMAGED = "the file is damaged or from another tool; save it again"


# ---- one map ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class LinearMap:
    """An affine map between activation spaces: `x_T = (x_S - source_mean) @ matrix + target_mean`.

    `kind` names the fitter ("unlock", "ridge", "procrustes"), `rank` the rank bound it imposed
    (None when unconstrained), `provenance` free string facts (fit options, item count, models).

    >>> m = fit_unlock(X_S, X_T, rank=16)          # doctest: +SKIP
    >>> m.apply(X_S_test).shape, m.apply_direction(v_S).shape   # doctest: +SKIP
    (torch.Size([50, 96]), torch.Size([96]))
    """

    matrix: Float[Tensor, "d_source d_target"]
    source_mean: Float[Tensor, " d_source"] | None = None
    target_mean: Float[Tensor, " d_target"] | None = None
    kind: str = "linear"
    rank: int | None = None
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.matrix, Tensor) or self.matrix.ndim != 2:
            raise InterpError(
                "a linear map's matrix must be a (d_source, d_target) tensor",
                fix="fit it with fit_unlock, fit_ridge or fit_procrustes",
            )
        for name, mean, width in (
            ("source_mean", self.source_mean, self.d_source),
            ("target_mean", self.target_mean, self.d_target),
        ):
            if mean is not None and tuple(mean.shape) != (width,):
                raise InterpError(
                    f"the map's {name} has shape {tuple(mean.shape)}, expected ({width},)",
                    fix="give one mean per dimension of its space",
                )
        object.__setattr__(self, "provenance", {str(k): str(v) for k, v in self.provenance.items()})

    @property
    def d_source(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def d_target(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def bias(self) -> Float[Tensor, " d_target"]:
        """The affine offset `b` in `x_T = x_S @ matrix + b`: `mu_T - mu_S @ matrix`."""
        b = torch.zeros(self.d_target, dtype=self.matrix.dtype, device=self.matrix.device)
        if self.source_mean is not None:
            b = b - self.source_mean @ self.matrix
        if self.target_mean is not None:
            b = b + self.target_mean
        return b

    def apply(self, x: Float[Tensor, "*rows d_source"]) -> Float[Tensor, "*rows d_target"]:
        """Map source activations (one row or a batch of rows) into target space, means included."""
        x = self._input(x, "activations")
        if self.source_mean is not None:
            x = x - self.source_mean
        y = x @ self.matrix
        return y + self.target_mean if self.target_mean is not None else y

    def apply_direction(
        self, v: Float[Tensor, "*rows d_source"]
    ) -> Float[Tensor, "*rows d_target"]:
        """Map a direction (or a batch of them): `v_T = v_S @ matrix`, no means (they cancel)."""
        return self._input(v, "direction") @ self.matrix

    def _input(self, x: Tensor, what: str) -> Tensor:
        if x.ndim not in (1, 2) or x.shape[-1] != self.d_source:
            raise InterpError(
                f"this map takes {self.d_source}-wide source vectors but the {what} has shape "
                f"{tuple(x.shape)}",
                fix=f"pass a ({self.d_source},) vector or (rows, {self.d_source}) rows read "
                "from the source model at the map's layer",
            )
        return x.to(self.matrix.dtype)

    def with_provenance(self, **facts: Any) -> LinearMap:
        """A copy with `facts` added to the provenance (values stored as strings)."""
        return replace(
            self, provenance={**self.provenance, **{k: str(v) for k, v in facts.items()}}
        )

    def to(self, *args: Any, **kwargs: Any) -> LinearMap:
        """A copy with every tensor moved or cast, as `Tensor.to`."""
        return replace(
            self,
            matrix=self.matrix.to(*args, **kwargs),
            source_mean=None if self.source_mean is None else self.source_mean.to(*args, **kwargs),
            target_mean=None if self.target_mean is None else self.target_mean.to(*args, **kwargs),
        )

    def __eq__(self, other: object) -> bool:
        """Exact equality of every tensor (and dtype) and of the descriptive fields."""
        if not isinstance(other, LinearMap):
            return NotImplemented
        return (
            (self.kind, self.rank, dict(self.provenance))
            == (other.kind, other.rank, dict(other.provenance))
            and _same(self.matrix, other.matrix)
            and _same(self.source_mean, other.source_mean)
            and _same(self.target_mean, other.target_mean)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        centred = self.source_mean is not None or self.target_mean is not None
        return (
            f"LinearMap(kind={self.kind!r}, {self.d_source} -> {self.d_target}, rank={self.rank}, "
            f"affine={centred})"
        )

    # ---- files -----------------------------------------------------------------------------
    def _tensors(self, prefix: str = "") -> dict[str, Tensor]:
        out = {f"{prefix}matrix": self.matrix}
        if self.source_mean is not None:
            out[f"{prefix}source_mean"] = self.source_mean
        if self.target_mean is not None:
            out[f"{prefix}target_mean"] = self.target_mean
        return out

    def _header(self) -> dict[str, Any]:
        return {"kind": self.kind, "rank": self.rank, "provenance": dict(self.provenance)}

    @classmethod
    def _from_parts(
        cls, tensors: Mapping[str, Tensor], header: Any, prefix: str, path: Path
    ) -> LinearMap:
        if not isinstance(header, dict) or not {"kind", "rank", "provenance"} <= set(header):
            raise InterpError(f"{path} has an unreadable map description", fix=_DAMAGED)
        return cls(
            matrix=tensor_named(tensors, f"{prefix}matrix", path),
            source_mean=tensors.get(f"{prefix}source_mean"),
            target_mean=tensors.get(f"{prefix}target_mean"),
            kind=str(header["kind"]),
            rank=None if header["rank"] is None else int(header["rank"]),
            provenance=header["provenance"],
        )

    def save(self, path: str | Path) -> Path:
        """Write the map as one safetensors file (`"kind": "alignment_map"`); returns the path."""
        meta = {
            "kind": MAP_KIND,
            "format_version": FORMAT_VERSION,
            "map": json.dumps(self._header(), sort_keys=True),
            "d_source": str(self.d_source),
            "d_target": str(self.d_target),
            "interp_version": library_version(),
        }
        return write_artifact(path, self._tensors(), meta)

    @classmethod
    def load(cls, path: str | Path) -> LinearMap:
        """Read a map saved by `LinearMap.save`, refusing any other file with a clear error."""
        path = Path(path)
        tensors, meta = read_artifact(path, MAP_KIND, "alignment map")
        return cls._from_parts(tensors, meta_json(meta, "map", path), "", path)


def _same(a: Tensor | None, b: Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and torch.equal(a.cpu(), b.cpu())


# ---- fitters ------------------------------------------------------------------------------


def fit_unlock(
    X_S: Float[Tensor, "n d_source"],
    X_T: Float[Tensor, "n d_target"],
    rank: int,
    centre: bool = False,
    rtol: float | None = None,
) -> LinearMap:
    """UNLOCK's rank-k least squares between principal subspaces (methods.md section 1, step 2).

    With `X_S`, `X_T` centred first when `centre` (the PCA pipeline centres, the mean pipeline
    does not)::

        V_S = top-k right singular vectors of X_S, as rows     (k x d_S)
        V_T = top-k right singular vectors of X_T, as rows     (k x d_T)
        M   = pinv(X_S V_S^T) (X_T V_T^T)                        (k x k)
        T   = V_S^T M V_T                                        (d_S x d_T)

    and a direction maps as `v_T = v_S @ T` (`apply_direction`). `k = min(rank, N)`, and also at
    most the width (an SVD has no more right singular vectors than `min(N, d)`; the official code
    caps the same way), so `k_S` and `k_T` can differ when the widths do. `T` does not depend on
    the SVD's sign choices. `pinv` drops singular values below `rtol * sigma_max`; by default
    `rtol = max(N, k_S) * eps(float32)`, the cutoff torch applies to the official code's float32
    activations. It also removes the null direction that centring creates when `k >= N`. The
    arithmetic is float64; the map comes back in the inputs' dtype (at least float32).

    >>> m = fit_unlock(locked_source_rows, target_rows, rank=16)   # doctest: +SKIP
    >>> v_target = m.apply_direction(v_source)                      # doctest: +SKIP
    """
    xs, xt, out = _pair(X_S, X_T, "fit_unlock")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise InterpError(f"rank must be a positive integer, got {rank!r}", fix="pass e.g. rank=16")
    n = xs.shape[0]
    xs, xt, mu_s, mu_t = _maybe_centre(xs, xt, centre)
    v_s = _top_right_singular_vectors(xs, rank)  # (k_S, d_S)
    v_t = _top_right_singular_vectors(xt, rank)  # (k_T, d_T)
    k_s, k_t = v_s.shape[0], v_t.shape[0]
    cutoff = max(n, k_s) * torch.finfo(torch.float32).eps if rtol is None else rtol
    m = torch.linalg.pinv(xs @ v_s.T, rtol=cutoff) @ (xt @ v_t.T)  # (k_S, N) @ (N, k_T)
    t = v_s.T @ m @ v_t  # (d_S, d_T)
    return LinearMap(
        matrix=t.to(out),
        source_mean=_cast(mu_s, out),
        target_mean=_cast(mu_t, out),
        kind="unlock",
        rank=min(k_s, k_t),
        provenance={
            "fit": "unlock",
            "rank_requested": str(rank),
            "k_source": str(k_s),
            "k_target": str(k_t),
            "centre": str(bool(centre)).lower(),
            "pinv_rtol": repr(float(cutoff)),
            "n_items": str(n),
        },
    )


def fit_ridge(
    X_S: Float[Tensor, "n d_source"],
    X_T: Float[Tensor, "n d_target"],
    alpha: float = 1.0,
    affine: bool = True,
) -> LinearMap:
    """Ridge regression from source to target rows, in closed form.

    `W = argmin ||X_S W - X_T||^2 + alpha ||W||^2 = (X_S^T X_S + alpha I)^-1 X_S^T X_T`, solved in
    the dual form `X_S^T (X_S X_S^T + alpha I)^-1 X_T` when `N < d_S` (same result, smaller
    system). `affine` adds an unpenalised bias, fitted by centring both sides (stored as the means).
    `alpha = 0` gives the minimum-norm least-squares solution `pinv(X_S) X_T`.

    >>> m = fit_ridge(X_S, X_T, alpha=1e-2)       # doctest: +SKIP
    """
    xs, xt, out = _pair(X_S, X_T, "fit_ridge")
    if not alpha >= 0:
        raise InterpError(f"ridge alpha must be >= 0, got {alpha!r}", fix="pass e.g. alpha=1.0")
    xs, xt, mu_s, mu_t = _maybe_centre(xs, xt, affine)
    n, d = xs.shape
    if alpha == 0:
        w = torch.linalg.pinv(xs) @ xt
    elif n >= d:
        w = torch.linalg.solve(xs.T @ xs + alpha * torch.eye(d, dtype=xs.dtype), xs.T @ xt)
    else:
        w = xs.T @ torch.linalg.solve(xs @ xs.T + alpha * torch.eye(n, dtype=xs.dtype), xt)
    return LinearMap(
        matrix=w.to(out),
        source_mean=_cast(mu_s, out),
        target_mean=_cast(mu_t, out),
        kind="ridge",
        rank=None,
        provenance={
            "fit": "ridge",
            "alpha": repr(float(alpha)),
            "affine": str(bool(affine)).lower(),
            "n_items": str(n),
        },
    )


def fit_procrustes(
    X_S: Float[Tensor, "n d_source"],
    X_T: Float[Tensor, "n d_target"],
    centre: bool = False,
) -> LinearMap:
    """Orthogonal Procrustes: the (semi-)orthogonal `W` that best rotates source rows onto target rows.

    `U S V^T = svd(X_S^T X_T)` (thin), `W = U V^T`, which maximises `tr(W^T X_S^T X_T)`.
    Equal widths: `W` is orthogonal and exactly minimises `||X_S W - X_T||_F`.
    Different widths: both spaces meet in the common width `r = min(d_S, d_T)`, and `W` is
    semi-orthogonal, `(d_S, d_T)` of rank `r` (the same as zero-padding the narrower side and
    cropping the square solution):
    - `d_S < d_T`: orthonormal rows (`W W^T = I`): the source is rotated isometrically into an
      `r`-dimensional subspace of target space; this is still the exact least-squares optimum;
    - `d_S > d_T`: orthonormal columns (`W^T W = I`): the source is projected onto the `r` source
      directions that best match the target, then rotated; the trace-optimal choice (the exact
      least-squares problem has no closed form there).
    `centre` removes both means first and keeps them as the map's offsets.

    >>> m = fit_procrustes(X_S, X_T)               # doctest: +SKIP
    """
    xs, xt, out = _pair(X_S, X_T, "fit_procrustes")
    xs, xt, mu_s, mu_t = _maybe_centre(xs, xt, centre)
    u, _, vh = torch.linalg.svd(xs.T @ xt, full_matrices=False)  # (d_S, r), (r, d_T)
    w = u @ vh  # (d_S, d_T)
    return LinearMap(
        matrix=w.to(out),
        source_mean=_cast(mu_s, out),
        target_mean=_cast(mu_t, out),
        kind="procrustes",
        rank=min(xs.shape[1], xt.shape[1]),
        provenance={
            "fit": "procrustes",
            "centre": str(bool(centre)).lower(),
            "n_items": str(xs.shape[0]),
        },
    )


Fitter = Callable[..., LinearMap]
FITTERS: dict[str, Fitter] = {
    "unlock": fit_unlock,
    "ridge": fit_ridge,
    "procrustes": fit_procrustes,
}


def get_fitter(name: str) -> Fitter:
    """The fitter registered under `name`, or a clear error naming the known ones."""
    try:
        return FITTERS[name]
    except KeyError:
        raise InterpError(
            f"unknown alignment fit {name!r}", fix=f"use one of {', '.join(FITTERS)}"
        ) from None


def _pair(X_S: Tensor, X_T: Tensor, name: str) -> tuple[Tensor, Tensor, torch.dtype]:
    for label, x in (("X_S", X_S), ("X_T", X_T)):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[0] == 0:
            raise InterpError(
                f"{name}: {label} must be an (items, width) tensor with at least one row, got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}",
                fix="pass one row per item",
            )
    if X_S.shape[0] != X_T.shape[0]:
        raise InterpError(
            f"{name}: X_S has {X_S.shape[0]} rows but X_T has {X_T.shape[0]}; rows must be the "
            "same items in both models",
            fix="run the same items, in the same order, through both models",
        )
    xs, xt = X_S.double(), X_T.double()
    if not (torch.isfinite(xs).all() and torch.isfinite(xt).all()):
        raise InterpError(
            f"{name}: the activations contain NaN or infinity",
            fix="capture in float32 and check the model's outputs",
        )
    out = torch.promote_types(torch.promote_types(X_S.dtype, X_T.dtype), torch.float32)
    return xs, xt, out


def _maybe_centre(
    xs: Tensor, xt: Tensor, centre: bool
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """Both sides minus their means when `centre`; the means become the map's offsets."""
    if not centre:
        return xs, xt, None, None
    mu_s, mu_t = xs.mean(dim=0), xt.mean(dim=0)
    return xs - mu_s, xt - mu_t, mu_s, mu_t


def _cast(mean: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if mean is None else mean.to(dtype)


def _top_right_singular_vectors(x: Tensor, rank: int) -> Tensor:
    """The top `min(rank, N, d)` right singular vectors of `x`, as rows (largest first)."""
    _, _, vh = torch.linalg.svd(x, full_matrices=False)  # (min(N, d), d)
    return vh[: min(rank, vh.shape[0])]


# ---- one map per layer --------------------------------------------------------------------


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
            raise InterpError(f"{path} has an unreadable map list", fix=_DAMAGED)
        maps: dict[int, tuple[int, LinearMap]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not {"target_layer", "source_layer"} <= set(entry):
                raise InterpError(f"{path} has an unreadable map entry", fix=_DAMAGED)
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

    >>> maps = fit_layer_maps(src.activations, tgt.activations, source=m_s, target=m_t,  # doctest: +SKIP
    ...                       fit="unlock", rank=16, centre=False)
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
