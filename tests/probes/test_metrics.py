"""TPR and FPR at a threshold; the statistics probes import from here are `interp.stats`' own
(tested against their references in tests/test_stats.py)."""

from __future__ import annotations

import pytest
import torch

import interp.stats
from interp import probes
from interp.errors import InterpError
from interp.probes.metrics import fpr_at_threshold, tpr_at_threshold


def test_tpr_and_fpr_count_scores_strictly_above_the_threshold():
    scores = torch.tensor([0.1, 0.5, 0.9, 0.5, 0.7, 0.95])
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    assert tpr_at_threshold(scores, labels, 0.5) == pytest.approx(2 / 3)
    assert fpr_at_threshold(scores, labels, 0.5) == pytest.approx(1 / 3)
    with pytest.raises(InterpError, match="no positive"):
        tpr_at_threshold(scores, torch.zeros(6), 0.5)
    with pytest.raises(InterpError, match="no negative"):
        fpr_at_threshold(scores, torch.ones(6), 0.5)
    with pytest.raises(InterpError, match="NaN"):
        tpr_at_threshold(torch.tensor([float("nan"), 1.0]), torch.tensor([1, 1]), 0.5)


def test_probes_report_with_the_one_statistics_module():
    assert probes.auroc is interp.stats.auroc
    assert probes.bootstrap_ci is interp.stats.bootstrap_ci
    assert probes.share_interval is interp.stats.wilson_interval
    assert probes.midranks is interp.stats.midranks
    assert probes.Interval is interp.stats.Interval
