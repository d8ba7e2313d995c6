"""Layer matching between two models: which source layer feeds each target layer.

Two rules:
- `depth_layer_map`: by relative depth, exactly as UNLOCK (methods.md section 1, step 2);
- `cka_layer_map`: by representational similarity (linear CKA) of the same items' activations.

Layers are block indices of the hook kind being aligned (e.g. `blocks.{l}.hook_resid_post`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InterpError


def depth_layer_map(n_source: int, n_target: int) -> list[int]:
    """Source layer for each target layer by relative depth.

    `i(j) = min(floor((L_S - 1) * j / (L_T - 1)), L_S - 1)` for target layer `j` in `0..L_T-1`, in
    integer arithmetic (no float rounding). The first target layer gets the first source layer and
    the last gets the last. With one target layer the formula divides by zero; that layer is both
    first and last, and we give it the last source layer (both feed the final residual stream).

    >>> depth_layer_map(8, 5)
    [0, 1, 3, 5, 7]
    >>> depth_layer_map(5, 8)
    [0, 0, 1, 1, 2, 2, 3, 4]
    """
    for name, n in (("source", n_source), ("target", n_target)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InterpError(
                f"the {name} model's layer count must be a positive integer, got {n!r}",
                fix="pass model.n_layers",
            )
    if n_target == 1:
        return [n_source - 1]
    return [min((n_source - 1) * j // (n_target - 1), n_source - 1) for j in range(n_target)]


def linear_cka(X: Float[Tensor, "n d_x"], Y: Float[Tensor, "n d_y"]) -> float:
    """Linear centred kernel alignment of two views of the same `n` items (Kornblith et al. 2019).

    With `X_c`, `Y_c` the column-centred matrices:
    `CKA = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F * ||Y_c^T Y_c||_F)`, in [0, 1]. It is 1 for `Y = X`
    and unchanged by orthogonal transforms and isotropic scaling of either side. Computed in
    float64 through the `n x n` Gram matrices when `n` is smaller than the widths.

    >>> x = torch.randn(20, 5)
    >>> round(linear_cka(x, 3 * x @ torch.linalg.qr(torch.randn(5, 5))[0]), 6)
    1.0
    """
    x, y = _centred_pair(X, Y)
    n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
    if n < min(dx, dy):
        kx, ky = x @ x.T, y @ y.T  # (n, n) Gram matrices: <K, L>_F = ||Y^T X||_F^2
        cross, sx, sy = (kx * ky).sum(), kx.norm(), ky.norm()
    else:
        cross, sx, sy = (y.T @ x).square().sum(), (x.T @ x).norm(), (y.T @ y).norm()
    if sx == 0 or sy == 0:
        raise InterpError(
            "CKA is undefined for activations that do not vary across items",
            fix="pass at least two distinct items",
        )
    return float(cross / (sx * sy))


class CkaLayerMap(NamedTuple):
    """The best source layer per target layer and the CKA matrix it was read from."""

    layer_map: list[int]
    cka: Float[Tensor, "n_target n_source"]


def cka_layer_map(
    source_acts: Sequence[Float[Tensor, "n d_source"]],
    target_acts: Sequence[Float[Tensor, "n d_target"]],
) -> CkaLayerMap:
    """For each target layer j, the source layer i with the highest `linear_cka(S_i, T_j)`.

    `source_acts[i]` and `target_acts[j]` hold the same `n` items' activations at layer i of the
    source and layer j of the target. Ties go to the shallower source layer.

    >>> layer_map, cka = cka_layer_map(source_per_layer, target_per_layer)   # doctest: +SKIP
    >>> cka.shape  # (n_target_layers, n_source_layers)              # doctest: +SKIP
    """
    if not source_acts or not target_acts:
        raise InterpError(
            "cka_layer_map needs activations for at least one layer of each model",
            fix="pass one (items, d_model) tensor per layer",
        )
    cka = torch.tensor(
        [[linear_cka(s, t) for s in source_acts] for t in target_acts], dtype=torch.float64
    )  # (L_T, L_S)
    return CkaLayerMap(layer_map=cka.argmax(dim=1).tolist(), cka=cka)


def _centred_pair(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    if X.ndim != 2 or Y.ndim != 2:
        raise InterpError(
            f"CKA compares (items, width) matrices, got shapes {tuple(X.shape)} and {tuple(Y.shape)}",
            fix="pass one row per item",
        )
    if X.shape[0] != Y.shape[0]:
        raise InterpError(
            f"CKA needs the same items on both sides, got {X.shape[0]} and {Y.shape[0]} rows",
            fix="run the same items through both models",
        )
    x, y = X.double(), Y.double()
    return x - x.mean(dim=0), y - y.mean(dim=0)
