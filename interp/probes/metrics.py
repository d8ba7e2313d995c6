"""Detection metrics with their uncertainty: exact AUROC, bootstrap intervals, TPR at a threshold.

    auroc(scores, labels)                                         # 0.5 = chance, 1 = perfect
    ci = bootstrap_ci(auroc, scores, labels, n=1000, seed=0)      # Interval(value, low, high)
    ci = bootstrap_ci(auroc, token_scores, token_labels, groups=prompt_index)   # by prompt
    tpr_at_threshold(response_scores, labels, probe.threshold)

Everything is computed in float64 on the CPU; results are Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InterpError


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (1 - alpha) percentile-bootstrap interval."""

    value: float
    low: float
    high: float
    level: float = 0.95
    n_boot: int = 0  # resamples that gave a finite statistic

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self, name: str) -> dict[str, float]:
        """`{name: value, name_low: low, name_high: high}`, the flat form metrics.json uses."""
        return {name: self.value, f"{name}_low": self.low, f"{name}_high": self.high}


def _vector(x: Any) -> Tensor:
    return torch.as_tensor(x).detach().to("cpu").reshape(-1).to(torch.float64)


def _binary(scores: Any, labels: Any) -> tuple[Tensor, Tensor]:
    s, y = _vector(scores), _vector(labels)
    if s.shape != y.shape:
        raise InterpError(
            f"{s.numel()} scores but {y.numel()} labels", fix="give one label per score"
        )
    if not bool(((y == 0) | (y == 1)).all()):
        raise InterpError("labels must be 0 or 1", fix="encode the positive class as 1")
    if not bool(torch.isfinite(s).all()):
        raise InterpError(
            "scores contain NaN or infinity",
            fix="drop responses without tokens (their mean score is NaN) before scoring",
        )
    return s, y.bool()


def midranks(x: Float[Tensor, " n"]) -> Float[Tensor, " n"]:
    """1-based ranks with ties given the mean of the ranks they span.

    >>> midranks(torch.tensor([3.0, 1.0, 3.0]))
    tensor([2.5000, 1.0000, 2.5000], dtype=torch.float64)
    """
    values, inverse, counts = torch.unique(
        x.to(torch.float64), sorted=True, return_inverse=True, return_counts=True
    )
    below = torch.cumsum(counts, 0) - counts  # how many values are strictly smaller
    mid = below.to(torch.float64) + (counts.to(torch.float64) + 1) / 2
    return mid[inverse]


def auroc(scores: Float[Tensor, " n"], labels: Tensor) -> float:
    """Area under the ROC curve, exactly, by the Mann-Whitney U statistic with midranks.

    `AUROC = (R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0)`, R_1 the sum of the positives' midranks: the
    probability that a random positive outscores a random negative, ties counting one half.

    >>> auroc(torch.tensor([0.1, 0.4, 0.4, 0.9]), torch.tensor([0, 0, 1, 1]))
    0.875
    """
    s, y = _binary(scores, labels)
    n1 = int(y.sum())
    n0 = int(y.numel()) - n1
    if n1 == 0 or n0 == 0:
        raise InterpError(
            f"AUROC needs both classes, got {n1} positive and {n0} negative",
            fix="score examples of both classes",
        )
    r1 = float(midranks(s)[y].sum())
    return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)


def tpr_at_threshold(scores: Float[Tensor, " n"], labels: Tensor, threshold: float) -> float:
    """Fraction of positives (label 1) scoring strictly above `threshold`.

    >>> tpr_at_threshold(torch.tensor([0.2, 0.7, 0.9]), torch.tensor([0, 1, 1]), 0.8)
    0.5
    """
    s, y = _binary(scores, labels)
    if not bool(y.any()):
        raise InterpError(
            "no positive examples to compute a TPR on", fix="include label-1 examples"
        )
    return float((s[y] > threshold).double().mean())


def fpr_at_threshold(scores: Float[Tensor, " n"], labels: Tensor, threshold: float) -> float:
    """Fraction of negatives (label 0) scoring strictly above `threshold`."""
    s, y = _binary(scores, labels)
    if bool(y.all()):
        raise InterpError(
            "no negative examples to compute an FPR on", fix="include label-0 examples"
        )
    return float((s[~y] > threshold).double().mean())


def share_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """The share k / n with its Wilson score interval: unlike a bootstrap, it stays honest at 0 of
    n and n of n, where every resample agrees.

    >>> round(share_interval(150, 150).low, 3), round(share_interval(0, 150).high, 3)
    (0.975, 0.025)
    """
    if n <= 0 or not 0 <= k <= n:
        raise InterpError(f"a share needs 0 <= k <= n and n > 0, got {k} of {n}", fix="count again")
    z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level)


def bootstrap_ci(
    stat_fn: Callable[..., float],
    *arrays: Any,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    groups: Any = None,
) -> Interval:
    """Percentile bootstrap interval of `stat_fn(*arrays)`, resampling rows or whole groups.

    Each of `n` resamples draws rows with replacement (or, with `groups`, whole groups with
    replacement, taking every row of each drawn group: the unit that was sampled independently,
    e.g. the prompt when rows are its tokens). The interval is the alpha/2 and 1 - alpha/2
    quantiles of the resampled statistic. Resamples where `stat_fn` raises `InterpError` (say,
    one class only for AUROC) or returns a non-finite value are dropped; more than half dropped
    is refused.

    >>> ci = bootstrap_ci(auroc, scores, labels, n=1000, seed=0)     # doctest: +SKIP
    >>> ci.low <= ci.value <= ci.high                                # doctest: +SKIP
    True
    """
    if not arrays:
        raise InterpError(
            "bootstrap_ci needs at least one array", fix="pass the statistic's inputs"
        )
    tensors = [torch.as_tensor(a).detach().cpu() for a in arrays]
    rows = tensors[0].shape[0]
    if any(t.shape[0] != rows for t in tensors):
        raise InterpError(
            f"bootstrap arrays have different lengths {[t.shape[0] for t in tensors]}",
            fix="pass row-aligned arrays",
        )
    if not 0 < alpha < 1 or n < 1:
        raise InterpError(
            f"bad bootstrap settings n={n}, alpha={alpha}", fix="use n >= 1, 0 < alpha < 1"
        )
    value = float(stat_fn(*tensors))
    draw = _group_sampler(groups, rows) if groups is not None else None
    gen = torch.Generator().manual_seed(seed)
    stats = []
    for _ in range(n):
        idx = draw(gen) if draw is not None else torch.randint(rows, (rows,), generator=gen)
        try:
            stat = float(stat_fn(*(t[idx] for t in tensors)))
        except InterpError:
            continue
        if stat == stat and abs(stat) != float("inf"):
            stats.append(stat)
    if len(stats) < max(1, n // 2):
        raise InterpError(
            f"only {len(stats)} of {n} bootstrap resamples gave a finite statistic",
            fix="use more data (both classes in most resamples) or a statistic defined on subsets",
        )
    q = torch.quantile(
        torch.tensor(stats, dtype=torch.float64),
        torch.tensor([alpha / 2, 1 - alpha / 2], dtype=torch.float64),
    )
    return Interval(value, float(q[0]), float(q[1]), 1 - alpha, len(stats))


def _group_sampler(groups: Any, rows: int) -> Callable[[torch.Generator], Tensor]:
    """A function drawing row indices for a resample of whole groups (with replacement)."""
    g = torch.as_tensor(groups).detach().cpu().reshape(-1)
    if g.shape[0] != rows:
        raise InterpError(
            f"{rows} rows but {g.shape[0]} group ids", fix="give one group (prompt) id per row"
        )
    _, inverse, counts = torch.unique(g, return_inverse=True, return_counts=True)
    order = torch.argsort(inverse, stable=True)  # rows sorted by group
    sorted_group = inverse[order]
    starts = torch.cumsum(counts, 0) - counts  # first sorted position of each group
    within = torch.arange(rows) - starts[sorted_group]  # position of each row inside its group
    # One padded row of indices per group (-1 = padding): a draw is then one gather and a mask,
    # far cheaper per resample than building index ranges (repeat_interleave).
    table = torch.full((counts.shape[0], int(counts.max())), -1, dtype=torch.long)
    table[sorted_group, within] = order

    def draw(gen: torch.Generator) -> Tensor:
        chosen = torch.randint(table.shape[0], (table.shape[0],), generator=gen)
        idx = table[chosen].reshape(-1)
        return idx[idx >= 0]

    return draw
