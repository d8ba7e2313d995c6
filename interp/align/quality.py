"""Held-out fit quality of any `LinearMap`: how well mapped source rows match the true target rows.

UNLOCK reports must include each map's fit quality on items it was not fitted on (methods.md
section 1); `fit_report` is that number set, one dict per map:

    report = fit_report(maps[j][1], X_S_test, X_T_test)
    report["r2"], report["mean_cosine"], report["mean_cosine_centred"]
"""

from __future__ import annotations

from jaxtyping import Float
from torch import Tensor

from interp.align.linear_map import LinearMap
from interp.errors import InterpError


def r2_score(pred: Float[Tensor, "n d"], true: Float[Tensor, "n d"]) -> float:
    """Pooled coefficient of determination: `R^2 = 1 - SSE / SST`.

    `SSE = sum_{n,k} (true - pred)^2`, `SST = sum_{n,k} (true - mean_n(true))^2`: sums over every
    row and dimension, so wide dimensions with large variance weigh more (one number per map,
    not an average of per-dimension R^2). 1 is perfect; 0 is no better than predicting the mean
    row; it can be negative.

    >>> import torch
    >>> r2_score(torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [3.0]]))
    1.0
    """
    p, t = _checked(pred, true)
    sst = (t - t.mean(dim=0)).square().sum()
    if sst == 0:
        raise InterpError(
            "R^2 is undefined when the true rows do not vary", fix="evaluate on distinct items"
        )
    return float(1 - (t - p).square().sum() / sst)


def mean_cosine(
    pred: Float[Tensor, "n d"], true: Float[Tensor, "n d"], *, centre: bool = False
) -> float:
    """Mean over rows of `cos(pred_n, true_n)`; with `centre`, after removing `mean_n(true)` from both.

    Residual streams share a large mean, so raw cosines look good for any map that reproduces it;
    the centred cosine asks whether the per-item variation was mapped.

    >>> import torch
    >>> mean_cosine(torch.eye(2), torch.eye(2))
    1.0
    """
    p, t = _checked(pred, true)
    if centre:
        mu = t.mean(dim=0)
        p, t = p - mu, t - mu
    denom = (p.norm(dim=1) * t.norm(dim=1)).clamp_min(1e-300)  # a zero row scores 0, not NaN
    return float(((p * t).sum(dim=1) / denom).mean())


def fit_report(
    linear_map: LinearMap,
    X_S_test: Float[Tensor, "n d_source"],
    X_T_test: Float[Tensor, "n d_target"],
) -> dict[str, float | int | str]:
    """Quality of `linear_map` on held-out rows (the same items in both models).

    Returns `n`, `r2` (pooled, see `r2_score`), `mean_cosine`, `mean_cosine_centred` and
    `relative_error = ||pred - true||_F / ||true||_F`, plus the map's `kind` and `rank`.

    >>> report = fit_report(fit_unlock(X_S[:400], X_T[:400], rank=16), X_S[400:], X_T[400:])  # doctest: +SKIP
    >>> report["n"], report["r2"], report["mean_cosine"]   # 100 held-out rows, ...  # doctest: +SKIP
    """
    if X_S_test.ndim != 2 or X_T_test.ndim != 2 or X_S_test.shape[0] != X_T_test.shape[0]:
        raise InterpError(
            f"held-out rows must pair up: X_S has shape {tuple(X_S_test.shape)}, X_T "
            f"{tuple(X_T_test.shape)}",
            fix="pass the same held-out items' activations from both models",
        )
    pred = linear_map.apply(X_S_test)
    p, t = _checked(pred, X_T_test)
    return {
        "kind": linear_map.kind,
        "rank": -1 if linear_map.rank is None else linear_map.rank,
        "n": int(t.shape[0]),
        "r2": r2_score(p, t),
        "mean_cosine": mean_cosine(p, t),
        "mean_cosine_centred": mean_cosine(p, t, centre=True),
        "relative_error": float((p - t).norm() / t.norm().clamp_min(1e-300)),
    }


def _checked(pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    if pred.shape != true.shape or pred.ndim != 2:
        raise InterpError(
            f"predicted rows {tuple(pred.shape)} and true rows {tuple(true.shape)} differ in shape",
            fix="compare (items, d_target) rows of the same items",
        )
    if true.shape[0] < 2:
        raise InterpError("fit quality needs at least 2 held-out items", fix="hold out more items")
    return pred.double(), true.double()
