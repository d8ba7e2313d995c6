"""`LinearMap`: an affine map from one model's activation space to another's, and its file.

Activations are rows and a map is a `(d_source, d_target)` matrix `W` applied on the right,
`x_T ~ (x_S - mu_S) @ W + mu_T` (the means only when the fit centred); a direction maps without the
means, `v_T = v_S @ W`: a direction is a difference of activations, so any offset cancels.

    m = fit_unlock(X_S, X_T, rank=16)        # interp.align.fitters
    m.apply(X_S_test), m.apply_direction(v_S)
    m.save("map.safetensors"); LinearMap.load("map.safetensors")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InterpError
from interp.store.artifacts import DAMAGED, meta_json, read_artifact, tensor_named, write_artifact
from interp.store.provenance import library_version

FORMAT_VERSION = "1"
MAP_KIND = "alignment_map"


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
            raise InterpError(f"{path} has an unreadable map description", fix=DAMAGED)
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
