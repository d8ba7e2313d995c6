"""Fitters of a `LinearMap`, one signature: `fit(X_S: (N, d_S), X_T: (N, d_T), **opts) -> LinearMap`.

Row n of both holds the same item:
- `fit_unlock`: rank-k least squares between principal subspaces (UNLOCK, methods.md section 1);
- `fit_ridge`: ridge regression, optionally affine;
- `fit_procrustes`: orthogonal (semi-orthogonal when widths differ) Procrustes.

`FITTERS` maps a name to its fitter (`get_fitter("unlock")`). Arithmetic is float64; maps come
back in the inputs' dtype (at least float32).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from interp.align.linear_map import LinearMap
from interp.errors import InterpError


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
