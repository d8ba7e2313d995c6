"""Statistics with their uncertainty, one tool each: the percentile bootstrap (plain, paired and
grouped), the Wilson score interval of a share, and AUROC with its interval.

    ci = bootstrap_mean(values, n=1000, seed=0)                  # Interval(value, low, high, ...)
    ci = paired_bootstrap(steered, unsteered, n=1000, seed=0)    # mean(a - b), pairs resampled
    ci = bootstrap_ci(stat, *arrays, n=1000, seed=0)             # any statistic of row-aligned arrays
    ci = bootstrap_ci(stat, *arrays, groups=prompt_index)        # whole groups (prompts) resampled
    ci = wilson_interval(k, n)                                   # a share k / n, honest at 0 and n
    auroc(scores, labels); auroc_interval(scores, labels, groups=prompt_index)

Resamples come from a `torch.Generator` seeded with `seed`, so a seed gives the same interval on
every run. The two bootstrap shapes keep the sampling calls and precision the studies have always
used (their published intervals depend on them): the mean forms draw every resample in one call,
an (n, rows) index matrix (`resample_rows`), and take quantiles in the data's own dtype;
`bootstrap_ci` draws one resample per call (rows, or groups), so that a statistic failing on a
resample can be skipped, and takes quantiles in float64.

This is the floor of the package: it imports torch and `interp.errors`, nothing else of interp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from interp.errors import InterpError

__all__ = [
    "Interval",
    "auroc",
    "auroc_interval",
    "bootstrap_ci",
    "bootstrap_mean",
    "check_scores",
    "midranks",
    "paired_bootstrap",
    "percentile_interval",
    "resample_rows",
    "wilson_interval",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a `level` interval (percentile bootstrap or Wilson)."""

    value: float
    low: float
    high: float
    level: float = 0.95
    n_boot: int = 0  # resamples that gave a finite statistic (0 for a closed-form interval)

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self, name: str) -> dict[str, float]:
        """`{name: value, name_low: low, name_high: high}`, the flat form metrics.json uses."""
        return {name: self.value, f"{name}_low": self.low, f"{name}_high": self.high}


# ---- the percentile bootstrap -------------------------------------------------------------------


def _check_settings(n: int, alpha: float) -> None:
    if not 0 < alpha < 1 or n < 1:
        raise InterpError(
            f"bad bootstrap settings n={n}, alpha={alpha}", fix="use n >= 1, 0 < alpha < 1"
        )


def resample_rows(rows: int, n: int, seed: int) -> Tensor:
    """Row indices of `n` resamples of `rows` rows with replacement, drawn at once: (n, rows).

    >>> resample_rows(3, n=2, seed=0).shape
    torch.Size([2, 3])
    """
    if rows < 1:
        raise InterpError("nothing to resample: no rows", fix="pass at least one value")
    if n < 1:
        raise InterpError(f"bad bootstrap settings n={n}", fix="use n >= 1 resamples")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, rows, (n, rows), generator=generator)


def percentile_interval(stats: Tensor, alpha: float = 0.05) -> tuple[float, float]:
    """The alpha/2 and 1 - alpha/2 quantiles of resampled statistics (linear interpolation).

    Quantiles are taken in `stats`' own dtype: the studies' float32 statistics keep their float32
    quantiles.

    >>> percentile_interval(torch.arange(101.0), 0.1)
    (5.0, 95.0)
    """
    if stats.ndim != 1 or stats.numel() == 0:
        raise InterpError(
            "percentile_interval needs a non-empty 1-D tensor of resampled statistics",
            fix="pass one statistic per resample",
        )
    if not 0 < alpha < 1:
        raise InterpError(f"bad interval setting alpha={alpha}", fix="use 0 < alpha < 1")
    return float(stats.quantile(alpha / 2)), float(stats.quantile(1 - alpha / 2))


def _vector_values(values: Any, what: str) -> Tensor:
    """`values` as a CPU 1-D tensor; float dtypes are kept (intervals are computed in them)."""
    v = torch.as_tensor(values).detach().cpu()
    if v.ndim != 1 or v.numel() == 0:
        raise InterpError(
            f"{what} needs a non-empty 1-D tensor, got shape {tuple(v.shape)}",
            fix="pass one value per item",
        )
    if not v.is_floating_point():
        v = v.double()  # counts and 0/1 flags: a mean needs a float
    if not bool(torch.isfinite(v).all()):
        raise InterpError(f"{what}: values contain NaN or infinity", fix="drop them first")
    return v


def bootstrap_mean(values: Any, *, n: int = 1000, seed: int = 0, alpha: float = 0.05) -> Interval:
    """Percentile bootstrap interval of the mean of `values`, resampling items with replacement.

    >>> bootstrap_mean(torch.tensor([0.0, 1.0, 1.0, 1.0]), n=200).value
    0.75
    """
    v = _vector_values(values, "bootstrap_mean")
    _check_settings(n, alpha)
    means = v[resample_rows(len(v), n, seed)].mean(-1)  # (n,)
    low, high = percentile_interval(means, alpha)
    return Interval(float(v.mean()), low, high, 1 - alpha, n)


def paired_bootstrap(
    a: Any, b: Any, *, n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> Interval:
    """Percentile bootstrap interval of mean(a - b), resampling items (pairs) with replacement.

    >>> paired_bootstrap(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0]), n=100).value
    0.5
    """
    a_v, b_v = _vector_values(a, "paired_bootstrap"), _vector_values(b, "paired_bootstrap")
    if a_v.shape != b_v.shape:
        raise InterpError(
            f"paired values have lengths {len(a_v)} and {len(b_v)}",
            fix="pass one value of each per item, in the same order",
        )
    return bootstrap_mean(a_v - b_v, n=n, seed=seed, alpha=alpha)


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
    e.g. the prompt when rows are its tokens). Rows of all arrays move together, so two arrays
    give the paired form. The interval is the alpha/2 and 1 - alpha/2 quantiles of the resampled
    statistic. Resamples where `stat_fn` raises `InterpError` (say, one class only for AUROC) or
    returns a non-finite value are dropped; fewer than n // 2 kept is refused.

    >>> ci = bootstrap_ci(auroc, scores, labels, n=1000, seed=0)     # doctest: +SKIP
    >>> ci.low <= ci.value <= ci.high                                # doctest: +SKIP
    True
    """
    if not arrays:
        raise InterpError(
            "bootstrap_ci needs at least one array", fix="pass the statistic's inputs"
        )
    tensors = [torch.as_tensor(a).detach().cpu() for a in arrays]
    rows = tensors[0].shape[0] if tensors[0].ndim else 0
    if any((t.shape[0] if t.ndim else 0) != rows for t in tensors):
        raise InterpError(
            f"bootstrap arrays have different lengths {[tuple(t.shape)[:1] for t in tensors]}",
            fix="pass row-aligned arrays",
        )
    if rows == 0:
        raise InterpError("nothing to resample: no rows", fix="pass at least one row")
    _check_settings(n, alpha)
    value = float(stat_fn(*tensors))
    draw = _group_draw(groups, rows) if groups is not None else _row_draw(rows)
    generator = torch.Generator().manual_seed(seed)
    stats = []
    for _ in range(n):
        idx = draw(generator)
        try:
            stat = float(stat_fn(*(t[idx] for t in tensors)))
        except InterpError:
            continue
        if math.isfinite(stat):
            stats.append(stat)
    if len(stats) < max(1, n // 2):
        raise InterpError(
            f"only {len(stats)} of {n} bootstrap resamples gave a finite statistic",
            fix="use more data (both classes in most resamples) or a statistic defined on subsets",
        )
    low, high = percentile_interval(torch.tensor(stats, dtype=torch.float64), alpha)
    return Interval(value, low, high, 1 - alpha, len(stats))


Draw = Callable[[torch.Generator], Tensor]  # a generator -> the row indices of one resample


def _row_draw(rows: int) -> Draw:
    def draw(generator: torch.Generator) -> Tensor:
        return torch.randint(rows, (rows,), generator=generator)

    return draw


def _group_draw(groups: Any, rows: int) -> Draw:
    """Row indices of one resample of whole groups (drawn with replacement, in draw order)."""
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

    def draw(generator: torch.Generator) -> Tensor:
        chosen = torch.randint(table.shape[0], (table.shape[0],), generator=generator)
        idx = table[chosen].reshape(-1)
        return idx[idx >= 0]

    return draw


# ---- the Wilson score interval ------------------------------------------------------------------


def wilson_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """The share k / n with its Wilson score interval: unlike a bootstrap, it stays honest at 0 of
    n and n of n, where every resample agrees.

    `centre, half = (p + z^2/2n) / (1 + z^2/n), z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)`.

    >>> round(wilson_interval(150, 150).low, 3), round(wilson_interval(0, 150).high, 3)
    (0.975, 0.025)
    """
    if n <= 0 or not 0 <= k <= n:
        raise InterpError(f"a share needs 0 <= k <= n and n > 0, got {k} of {n}", fix="count again")
    if not 0 < level < 1:
        raise InterpError(f"interval level {level} is not in (0, 1)", fix="use e.g. 0.95")
    # z from a float32 quantile, as the published intervals were computed.
    z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level)


# ---- AUROC --------------------------------------------------------------------------------------


def check_scores(scores: Any, labels: Any) -> tuple[Tensor, Tensor]:
    """Scores as float64 and 0/1 labels as bool, one per score, both 1-D on the CPU; refuses
    other labels and non-finite scores."""
    s = torch.as_tensor(scores).detach().cpu().reshape(-1).to(torch.float64)
    y = torch.as_tensor(labels).detach().cpu().reshape(-1).to(torch.float64)
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


def midranks(x: Tensor) -> Tensor:
    """1-based ranks (float64) with ties given the mean of the ranks they span.

    >>> midranks(torch.tensor([3.0, 1.0, 3.0]))
    tensor([2.5000, 1.0000, 2.5000], dtype=torch.float64)
    """
    values, inverse, counts = torch.unique(
        x.to(torch.float64), sorted=True, return_inverse=True, return_counts=True
    )
    below = torch.cumsum(counts, 0) - counts  # how many values are strictly smaller
    mid = below.to(torch.float64) + (counts.to(torch.float64) + 1) / 2
    return mid[inverse]


def auroc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve, exactly, by the Mann-Whitney U statistic with midranks.

    `AUROC = (R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0)`, R_1 the sum of the positives' midranks: the
    probability that a random positive outscores a random negative, ties counting one half.

    >>> auroc(torch.tensor([0.1, 0.4, 0.4, 0.9]), torch.tensor([0, 0, 1, 1]))
    0.875
    """
    s, y = check_scores(scores, labels)
    n1 = int(y.sum())
    n0 = int(y.numel()) - n1
    if n1 == 0 or n0 == 0:
        raise InterpError(
            f"AUROC needs both classes, got {n1} positive and {n0} negative",
            fix="score examples of both classes",
        )
    r1 = float(midranks(s)[y].sum())
    return (r1 - n1 * (n1 + 1) / 2) / (n1 * n0)


def auroc_interval(
    scores: Any,
    labels: Any,
    *,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    groups: Any = None,
) -> Interval:
    """AUROC with its percentile bootstrap interval over rows, or over whole `groups`; resamples
    holding one class only are skipped (`bootstrap_ci`).

    >>> auroc_interval(scores, labels, groups=prompt_index).as_dict("auroc")   # doctest: +SKIP
    """
    return bootstrap_ci(auroc, scores, labels, n=n, seed=seed, alpha=alpha, groups=groups)
