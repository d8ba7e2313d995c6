"""Each statistical tool against an independent reference: hand-written resampling loops with the
same generator, numpy quantiles, the Wilson score test, the Mann-Whitney pair count; then edge
cases and the module's place at the floor of the package."""

from __future__ import annotations

import math
import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest
import torch

from interp.errors import InterpError
from interp.stats import (
    Interval,
    auroc,
    auroc_interval,
    bootstrap_ci,
    bootstrap_mean,
    midranks,
    paired_bootstrap,
    percentile_interval,
    resample_rows,
    wilson_interval,
)

Z95 = NormalDist().inv_cdf(0.975)  # exact in float64


def percentiles(stats: list[float], alpha: float = 0.05) -> tuple[float, float]:
    """numpy's linear-interpolation quantiles, the reference for `percentile_interval`."""
    low, high = np.quantile(np.asarray(stats, dtype=np.float64), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# ---- the draws and the quantiles ----------------------------------------------------------------


def test_resample_rows_is_one_seeded_draw_of_every_resample():
    expected = torch.randint(0, 7, (50, 7), generator=torch.Generator().manual_seed(3))
    assert torch.equal(resample_rows(7, 50, seed=3), expected)
    assert not torch.equal(resample_rows(7, 50, seed=4), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.5])
def test_percentile_interval_matches_numpy(dtype, alpha):
    x = torch.randn(1999, generator=torch.Generator().manual_seed(0)).to(dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert percentile_interval(x, alpha) == pytest.approx(percentiles(x.tolist(), alpha), abs=tol)


# ---- plain and paired means ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bootstrap_mean_against_a_loop_over_resamples(dtype):
    values = torch.randn(37, generator=torch.Generator().manual_seed(1)).to(dtype)
    n, seed = 400, 5
    gen = torch.Generator().manual_seed(seed)
    index = torch.randint(0, 37, (n, 37), generator=gen).tolist()
    v = values.double().tolist()
    means = [sum(v[i] for i in row) / len(row) for row in index]
    ci = bootstrap_mean(values, n=n, seed=seed)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    assert (ci.low, ci.high) == pytest.approx(percentiles(means), abs=tol)
    assert ci.value == pytest.approx(sum(v) / len(v), abs=tol)
    assert (ci.level, ci.n_boot) == (0.95, n)


def test_paired_bootstrap_resamples_pairs_by_hand():
    gen = torch.Generator().manual_seed(2)
    a = (torch.rand(60, generator=gen) < 0.7).float()
    b = (torch.rand(60, generator=gen) < 0.4).float()
    n, seed = 300, 11
    draw = torch.Generator().manual_seed(seed)
    diffs = []
    for row in torch.randint(0, 60, (n, 60), generator=draw).tolist():
        diffs.append(sum(float(a[i]) - float(b[i]) for i in row) / 60)  # pair i moves as a unit
    ci = paired_bootstrap(a, b, n=n, seed=seed)
    assert (ci.low, ci.high) == pytest.approx(percentiles(diffs), abs=1e-6)
    assert ci.value == pytest.approx(float(a.mean() - b.mean()), abs=1e-6)


def test_pairing_removes_the_shared_item_effect():
    # a = b + 0.1 + small noise: the paired interval is narrow around 0.1; resampling a and b
    # independently would be as wide as the spread of b.
    gen = torch.Generator().manual_seed(0)
    b = torch.randn(200, generator=gen)
    a = b + 0.1 + 0.01 * torch.randn(200, generator=gen)
    ci = paired_bootstrap(a, b, n=500, seed=0)
    assert ci.covers(0.1) and ci.high - ci.low < 0.01
    unpaired = bootstrap_mean(a, n=500, seed=0)
    assert unpaired.high - unpaired.low > 0.2


# ---- any statistic, rows or groups --------------------------------------------------------------


def test_bootstrap_ci_draws_one_resample_at_a_time():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(25, generator=gen)
    y = torch.randn(25, generator=gen)
    n, seed = 200, 9
    draw = torch.Generator().manual_seed(seed)
    largest = []  # any statistic will do; this one is the largest paired difference
    for _ in range(n):
        rows = torch.randint(25, (25,), generator=draw).tolist()
        largest.append(max(float(x[i]) - float(y[i]) for i in rows))
    ci = bootstrap_ci(lambda p, q: float((p - q).max()), x, y, n=n, seed=seed)
    assert (ci.low, ci.high) == pytest.approx(percentiles(largest), abs=1e-6)
    assert ci.value == pytest.approx(float((x - y).max())) and ci.n_boot == n


def test_grouped_bootstrap_resamples_whole_groups_by_hand():
    groups = torch.tensor([3, 3, 0, 7, 7, 7, 0, 5])  # ids need not be contiguous or sorted
    values = torch.arange(8, dtype=torch.float64) ** 2
    ids = sorted(set(groups.tolist()))  # draws index groups in sorted-id order
    members = {g: [i for i in range(8) if int(groups[i]) == g] for g in ids}
    n, seed = 300, 2
    draw = torch.Generator().manual_seed(seed)
    means = []
    for _ in range(n):
        chosen = torch.randint(len(ids), (len(ids),), generator=draw).tolist()
        rows = [i for c in chosen for i in members[ids[c]]]
        means.append(sum(float(values[i]) for i in rows) / len(rows))
    ci = bootstrap_ci(lambda v: float(v.mean()), values, n=n, seed=seed, groups=groups)
    assert (ci.low, ci.high) == pytest.approx(percentiles(means), abs=1e-12)


def test_grouped_draws_keep_groups_whole_and_degenerate_resamples_are_dropped():
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    seen = []

    def record(g):
        seen.append(g.clone())
        return float(g.numel())

    bootstrap_ci(record, groups, n=50, seed=1, groups=groups)
    for g in seen[1:]:  # seen[0] is the point estimate on all rows
        for value, size in ((0, 3), (1, 2), (2, 1)):
            assert int((g == value).sum()) % size == 0  # a group is drawn whole or not at all
    labels = torch.tensor([1] + [0] * 9)  # one positive: many resamples hold one class only
    ci = bootstrap_ci(auroc, torch.arange(10.0), labels, n=200, seed=0)
    assert 100 <= ci.n_boot < 200


def _coverage(groups_for_ci: bool, trials: int = 100) -> float:
    """How often the 95% interval of a mean covers 0 when rows share a group effect.

    x = g_prompt + 0.1 e_row with 20 prompts of 10 rows: the 200 rows are really 20 samples.
    """
    covered = 0
    groups = torch.arange(20).repeat_interleave(10)
    for t in range(trials):
        gen = torch.Generator().manual_seed(1000 + t)
        x = torch.randn(20, generator=gen)[groups] + 0.1 * torch.randn(200, generator=gen)
        ci = bootstrap_ci(
            lambda v: float(v.mean()),
            x,
            n=200,
            seed=t,
            groups=groups if groups_for_ci else None,
        )
        covered += ci.covers(0.0)
    return covered / trials


def test_group_bootstrap_covers_the_truth_where_row_resampling_does_not():
    assert _coverage(groups_for_ci=True) >= 0.85  # nominal 95% (percentile bootstrap, 20 groups)
    assert _coverage(groups_for_ci=False) <= 0.7  # rows treated as independent: far too narrow


# ---- Wilson ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 10, 150, 1000])
def test_wilson_at_the_ends_is_the_closed_form(n):
    none, every = wilson_interval(0, n), wilson_interval(n, n)
    z2 = Z95**2
    assert none.value == 0.0 and none.low == pytest.approx(0.0, abs=1e-15)
    assert none.high == pytest.approx(z2 / (n + z2), rel=1e-6)
    assert every.value == 1.0 and every.high == pytest.approx(1.0, abs=1e-15)
    assert every.low == pytest.approx(n / (n + z2), rel=1e-6)


@pytest.mark.parametrize(("k", "n"), [(1, 2), (3, 10), (60, 150), (149, 150), (1, 1000)])
def test_wilson_bounds_are_where_the_score_test_reaches_z(k, n):
    # The Wilson interval is {p0 : |k/n - p0| <= z sqrt(p0 (1 - p0) / n)}: solve the quadratic.
    p, z2 = k / n, Z95**2
    roots = np.roots([1 + z2 / n, -(2 * p + z2 / n), p * p])
    ci = wilson_interval(k, n)
    assert (ci.low, ci.high) == pytest.approx(sorted(roots.real), rel=1e-6)
    assert ci.value == p and ci.level == 0.95 and ci.covers(p)
    wider = wilson_interval(k, n, level=0.99)
    assert wider.low < ci.low and wider.high > ci.high


@pytest.mark.parametrize(
    ("k", "n", "level"), [(3, 2, 0.95), (-1, 5, 0.95), (0, 0, 0.95), (1, 2, 1.0), (1, 2, 0.0)]
)
def test_wilson_refuses_impossible_counts_and_levels(k, n, level):
    with pytest.raises(InterpError):
        wilson_interval(k, n, level)


# ---- AUROC -------------------------------------------------------------------------------------


def mann_whitney_auc(scores, labels):
    """U / (n1 n0) by brute force: count positive-negative pairs, ties counting one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).double().sum()
    ties = (pos[:, None] == neg[None, :]).double().sum()
    return float((wins + 0.5 * ties) / (pos.numel() * neg.numel()))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_the_mann_whitney_count_with_many_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (300,), generator=gen)
    scores = torch.randint(0, 7, (300,), generator=gen).float() + 0.8 * labels  # heavy ties
    assert auroc(scores, labels) == pytest.approx(mann_whitney_auc(scores, labels), abs=1e-12)


def test_auroc_edge_cases():
    y = torch.tensor([0, 0, 1, 1])
    assert auroc(torch.tensor([1.0, 2.0, 3.0, 4.0]), y) == 1.0
    assert auroc(torch.tensor([4.0, 3.0, 2.0, 1.0]), y) == 0.0
    assert auroc(torch.zeros(4), y) == 0.5  # constant scores: chance
    assert auroc(torch.tensor([0.1, 0.4, 0.4, 0.9]), y) == 0.875
    assert auroc(torch.tensor([0.1, 0.4, 0.4, 0.9]), y.float()) == 0.875  # float 0/1 labels
    assert torch.equal(
        midranks(torch.tensor([5.0, 1.0, 5.0, 5.0])), torch.tensor([3.0, 1.0, 3.0, 3.0]).double()
    )
    for scores, labels, message in [
        (torch.ones(3), torch.ones(3), "both classes"),
        (torch.empty(0), torch.empty(0), "both classes"),
        (torch.tensor([0.0, float("nan")]), torch.tensor([0, 1]), "NaN"),
        (torch.ones(3), torch.tensor([0, 1]), "one label per score"),
        (torch.ones(2), torch.tensor([0, 2]), "0 or 1"),
    ]:
        with pytest.raises(InterpError, match=message):
            auroc(scores, labels)


def test_auroc_interval_is_the_bootstrap_of_auroc_and_covers_the_truth():
    # Positives ~ N(1, 1), negatives ~ N(0, 1): AUROC = Phi(1 / sqrt(2)).
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    scores = torch.randn(400, generator=gen) + labels
    truth = 0.5 * (1 + math.erf(0.5))
    ci = auroc_interval(scores, labels, n=500, seed=0)
    assert ci == bootstrap_ci(auroc, scores, labels, n=500, seed=0)
    assert ci.low < ci.value < ci.high and ci.covers(truth)
    assert 0.05 < ci.high - ci.low < 0.15  # about 2 * 1.96 * 0.024
    assert ci.n_boot == 500 and ci.level == 0.95
    groups = torch.arange(400) // 4
    by_group = auroc_interval(scores, labels, n=200, seed=1, groups=groups)
    assert by_group == bootstrap_ci(auroc, scores, labels, n=200, seed=1, groups=groups)


# ---- edge cases --------------------------------------------------------------------------------


def test_constant_data_gives_a_point_interval():
    assert bootstrap_mean(torch.full((9,), 0.25), n=50) == Interval(0.25, 0.25, 0.25, 0.95, 50)
    same = torch.ones(6)
    assert paired_bootstrap(same, same, n=50) == Interval(0.0, 0.0, 0.0, 0.95, 50)
    ci = bootstrap_ci(lambda v: float(v.mean()), torch.full((5,), 2.0), n=40)
    assert (ci.value, ci.low, ci.high, ci.n_boot) == (2.0, 2.0, 2.0, 40)
    tied = auroc_interval(torch.zeros(20), torch.arange(20) % 2, n=50)
    assert (tied.value, tied.low, tied.high) == (0.5, 0.5, 0.5)


def _distinct_mean(v: torch.Tensor) -> float:
    """Defined on all rows, refused on almost every resample (a resample repeats rows)."""
    if v.unique().numel() < v.numel():
        raise InterpError("repeated rows")
    return float(v.mean())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_mean(torch.empty(0)), "non-empty"),
        (lambda: bootstrap_mean(torch.ones(2, 3)), "1-D"),
        (lambda: bootstrap_mean(torch.tensor([1.0, float("nan")])), "NaN"),
        (lambda: bootstrap_mean(torch.ones(3), n=0), "n=0"),
        (lambda: bootstrap_mean(torch.ones(3), alpha=1.0), "alpha=1.0"),
        (lambda: paired_bootstrap(torch.ones(3), torch.ones(4)), "lengths 3 and 4"),
        (lambda: paired_bootstrap(torch.empty(0), torch.empty(0)), "non-empty"),
        (lambda: resample_rows(0, 10, 0), "no rows"),
        (lambda: resample_rows(3, 0, 0), "n=0"),
        (lambda: percentile_interval(torch.empty(0)), "non-empty"),
        (lambda: percentile_interval(torch.ones(3), alpha=0.0), "alpha=0.0"),
        (lambda: bootstrap_ci(auroc), "at least one array"),
        (lambda: bootstrap_ci(auroc, torch.ones(3), torch.ones(4)), "lengths"),
        (lambda: bootstrap_ci(lambda v: float(v.mean()), torch.empty(0)), "no rows"),
        (lambda: bootstrap_ci(lambda v: 0.0, torch.ones(3), n=0), "n=0"),
        (lambda: bootstrap_ci(lambda v: 0.0, torch.ones(3), groups=torch.ones(2)), "group"),
        (lambda: bootstrap_ci(lambda v: float("nan"), torch.ones(3)), "finite"),
        (lambda: bootstrap_ci(_distinct_mean, torch.arange(10.0), n=100), "finite"),
    ],
)
def test_bad_input_is_refused_with_a_fix(call, message):
    with pytest.raises(InterpError, match=message) as error:
        call()
    assert error.value.fix


def test_stats_is_the_floor_of_the_package():
    code = (
        "import sys, interp.stats; "
        "print(sorted(m for m in sys.modules if m == 'interp' or m.startswith('interp.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == str(["interp", "interp.errors", "interp.stats"])
