"""AUROC against the Mann-Whitney count, ties, bootstrap coverage (rows and groups), TPR."""

from __future__ import annotations

import math

import pytest
import torch

from interp.errors import InterpError
from interp.probes.metrics import (
    auroc,
    bootstrap_ci,
    fpr_at_threshold,
    midranks,
    tpr_at_threshold,
)


def mann_whitney_auc(scores, labels):
    """U / (n1 n0) by brute force: count positive-negative pairs, ties counting one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).double().sum()
    ties = (pos[:, None] == neg[None, :]).double().sum()
    return float((wins + 0.5 * ties) / (pos.numel() * neg.numel()))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_the_mann_whitney_formula_with_many_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (300,), generator=gen)
    scores = torch.randint(0, 7, (300,), generator=gen).float() + 0.8 * labels  # heavy ties
    assert auroc(scores, labels) == pytest.approx(mann_whitney_auc(scores, labels), abs=1e-12)


def test_auroc_edge_cases():
    y = torch.tensor([0, 0, 1, 1])
    assert auroc(torch.tensor([1.0, 2.0, 3.0, 4.0]), y) == 1.0
    assert auroc(torch.tensor([4.0, 3.0, 2.0, 1.0]), y) == 0.0
    assert auroc(torch.zeros(4), y) == 0.5  # all tied: chance
    assert auroc(torch.tensor([0.1, 0.4, 0.4, 0.9]), y) == 0.875
    assert torch.equal(
        midranks(torch.tensor([5.0, 1.0, 5.0, 5.0])), torch.tensor([3.0, 1.0, 3.0, 3.0]).double()
    )
    with pytest.raises(InterpError, match="both classes"):
        auroc(torch.ones(3), torch.ones(3))
    with pytest.raises(InterpError, match="NaN"):
        auroc(torch.tensor([0.0, float("nan")]), torch.tensor([0, 1]))
    with pytest.raises(InterpError, match="one label per score"):
        auroc(torch.ones(3), torch.tensor([0, 1]))


def test_tpr_and_fpr_count_scores_strictly_above_the_threshold():
    scores = torch.tensor([0.1, 0.5, 0.9, 0.5, 0.7, 0.95])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert tpr_at_threshold(scores, labels, 0.5) == pytest.approx(2 / 3)
    assert fpr_at_threshold(scores, labels, 0.5) == pytest.approx(1 / 3)
    with pytest.raises(InterpError, match="no positive"):
        tpr_at_threshold(scores, torch.zeros(6), 0.5)


def test_bootstrap_interval_of_auroc_covers_the_known_truth():
    # Positives ~ N(1, 1), negatives ~ N(0, 1): AUROC = Phi(1 / sqrt(2)) = 0.7602.
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 2
    scores = torch.randn(400, generator=gen) + labels
    truth = 0.5 * (1 + math.erf(0.5))
    ci = bootstrap_ci(auroc, scores, labels, n=500, seed=0)
    assert ci.low < ci.value < ci.high and ci.covers(truth)
    assert 0.05 < ci.high - ci.low < 0.15  # about 2 * 1.96 * 0.024
    assert ci.n_boot == 500 and ci.level == 0.95
    again = bootstrap_ci(auroc, scores, labels, n=500, seed=0)
    assert again == ci  # seeded: reproducible


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


def test_bootstrap_keeps_groups_whole_and_drops_degenerate_resamples():
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    seen = []

    def record(g):
        seen.append(g.clone())
        return float(g.numel())

    bootstrap_ci(record, groups, n=50, seed=1, groups=groups)
    for g in seen[1:]:  # seen[0] is the point estimate on all rows
        for value, size in ((0, 3), (1, 2), (2, 1)):
            assert int((g == value).sum()) % size == 0  # a group is drawn whole or not at all
    # Few positives: some resamples have one class; they are dropped, not fatal.
    labels = torch.tensor([1] + [0] * 9)
    ci = bootstrap_ci(auroc, torch.arange(10.0), labels, n=200, seed=0)
    assert 100 <= ci.n_boot < 200
    with pytest.raises(InterpError, match="lengths"):
        bootstrap_ci(auroc, torch.ones(3), torch.ones(4))


def test_share_interval_is_the_wilson_interval_and_stays_open_at_the_ends():
    from interp.probes import share_interval

    half = share_interval(1, 2)
    assert (half.value, round(half.low, 4), round(half.high, 4)) == (0.5, 0.0945, 0.9055)
    z2 = 1.959964**2
    assert share_interval(0, 150).high == pytest.approx(z2 / (150 + z2), rel=1e-5)
    assert share_interval(150, 150).low == pytest.approx(150 / (150 + z2), rel=1e-5)
    inner = share_interval(60, 150)
    assert inner.low < 0.4 < inner.high and inner.high - inner.low < 0.16
    for k, n in [(3, 2), (-1, 5), (0, 0)]:
        with pytest.raises(InterpError):
            share_interval(k, n)
