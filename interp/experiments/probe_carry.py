"""Carry a linear probe from model A into model B through a map fitted on shared texts.

The map goes from B into A (`x_A ~ M(x_B) = x_B @ W + c`, fitted with B as source, A as target),
because then the probe's score pulls back exactly: `score_A(M(x_B)) = x_B . (W w) + (c . w + b)`,
a linear probe on B with weight `W w`. A map from A into B would have to be inverted first, which a
rank-k or ridge map cannot be.

    m = fit_map({"fit": "unlock", "rank": 64}, X_B, X_A)      # a LinearMap, B -> A
    w_B, b_B = pull_back(probe_A, m)                         # scores B's raw activations
    r = agreement({"fit": "ridge", "alpha_rel": 0.1}, X_B, X_A, folds, probe_A)   # no B labels

`alpha_rel` sets ridge strength relative to the source's scale (`alpha = alpha_rel * |X_c|^2 / d`,
the mean eigenvalue of the centred scatter), so one setting serves models whose residual norms
differ a thousandfold; every other option goes to the `interp.align` fitter as is.
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.align import LinearMap, get_fitter
from interp.errors import InterpError
from interp.probes import LinearProbe, fit_logistic_probe, shuffled_labels


def map_options(spec: dict[str, Any], X_S: Float[Tensor, "n d_source"]) -> tuple[str, dict]:
    """(fitter name, its keyword options) for a map candidate, `alpha_rel` resolved on `X_S`."""
    options = {k: v for k, v in spec.items() if k != "fit"}
    if "alpha_rel" in options:
        x = X_S.double()
        scale = float((x - x.mean(0)).square().sum()) / x.shape[1]
        options["alpha"] = float(options.pop("alpha_rel")) * scale
    return str(spec["fit"]), options


def fit_map(
    spec: dict[str, Any], X_S: Float[Tensor, "n d_source"], X_T: Float[Tensor, "n d_target"]
) -> LinearMap:
    """The map `spec` describes, fitted from source rows `X_S` onto target rows `X_T`."""
    name, options = map_options(spec, X_S)
    return get_fitter(name)(X_S, X_T, **options)


def pull_back(probe: LinearProbe, m: LinearMap) -> tuple[Float[Tensor, " d_source"], float]:
    """Raw-space (weight, bias) on the map's source side that score `x` as `probe` scores `M(x)`."""
    if probe.d_model != m.d_target:
        raise InterpError(
            f"the probe reads {probe.d_model}-wide activations but the map lands in a "
            f"{m.d_target}-wide space",
            fix="fit the map from the other model into the probe's model",
        )
    w, b = probe.effective_weight()  # (d_A,), float64
    matrix = m.matrix.to(torch.float64)
    return matrix @ w, float(m.bias.to(torch.float64) @ w) + b


def carried_probe(probe: LinearProbe, m: LinearMap, **provenance: Any) -> LinearProbe:
    """`probe` pulled back through `m` as a probe of the map's source model (raw features)."""
    from interp.probes.logistic import Standardizer

    weight, bias = pull_back(probe, m)
    return LinearProbe(weight, Standardizer.identity(weight.shape[0]), bias, **provenance)


def random_matrix(m: LinearMap, seed: int) -> Float[Tensor, "d_source d_target"]:
    """A Gaussian matrix of the map's shape, rank and Frobenius norm: the random-map control."""
    gen = torch.Generator().manual_seed(seed)
    rank = m.rank or min(m.d_source, m.d_target)
    left = torch.randn(m.d_source, rank, generator=gen, dtype=torch.float64)
    right = torch.randn(rank, m.d_target, generator=gen, dtype=torch.float64)
    r = left @ right  # (d_S, d_T) of rank `rank`
    return r * (m.matrix.to(torch.float64).norm() / r.norm())


def agreement(
    spec: dict[str, Any],
    X_S: Float[Tensor, "n d_source"],
    X_T: Float[Tensor, "n d_target"],
    fold: Int[Tensor, " n"] | None,
    probe: LinearProbe,
    extra: tuple[Tensor, Tensor] | None = None,
) -> float:
    """How well a map of kind `spec` carries the probe's score, judged without the source's labels.

    For each fold: fit the map on the other folds' rows (plus `extra` shared rows), predict the
    probe's score of the held-out target rows from the source rows; Pearson r between predicted
    and actual scores over all held-out rows. With `fold` None the map is fitted on `extra` alone
    and never sees these rows, so every row is held out.
    """
    w, _ = probe.effective_weight()
    actual = X_T.double() @ w  # (n,)
    if fold is None:
        if extra is None:
            raise InterpError("a map fitted on shared texts alone needs them", fix="pass extra")
        weight, bias = pull_back(probe, fit_map(spec, *extra))
        return _pearson(X_S.double() @ weight + bias, actual)
    predicted = torch.empty_like(actual)
    for f in fold.unique().tolist():
        train, test = fold != f, fold == f
        xs, xt = X_S[train], X_T[train]
        if extra is not None:
            xs, xt = torch.cat([xs, extra[0]]), torch.cat([xt, extra[1]])
        weight, bias = pull_back(probe, fit_map(spec, xs, xt))
        predicted[test] = X_S[test].double() @ weight + bias
    return _pearson(predicted, actual)


def _pearson(a: Tensor, b: Tensor) -> float:
    r = torch.corrcoef(torch.stack([a, b]))[0, 1]
    return float(r) if torch.isfinite(r) else 0.0  # a constant prediction agrees with nothing


def shuffled_label_probes(
    x: Float[Tensor, "n d_model"], labels: Tensor, C: float, n: int, seed: int
) -> list[LinearProbe]:
    """Probes on one row per statement with labels shuffled (seeds `seed + 1 ...`): a probe of
    nothing, which carried the same way shows what the construction gives by itself."""
    index = torch.arange(x.shape[0])
    return [
        fit_logistic_probe(x.double(), shuffled_labels(labels, index, seed=seed + 1 + i), None, C)
        for i in range(n)
    ]


def quantile(values: list[float], q: float) -> float:
    return float(torch.tensor(values, dtype=torch.float64).quantile(q))
