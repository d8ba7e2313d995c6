"""Threshold calibration: held-out FPR on target, refusal of small or token-level control sets."""

from __future__ import annotations

import math

import pytest
import torch

from interp.errors import InterpError
from interp.probes.calibrate import calibrate_probe, calibrate_threshold, required_controls
from interp.probes.logistic import Standardizer
from interp.probes.probe import LinearProbe


def _held_out_fprs(threshold_fn, n: int, fpr: float, draws: int) -> torch.Tensor:
    """For many control sets of n N(0, 1) scores: the exact FPR of the threshold on fresh controls."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(draws):
        t = threshold_fn(torch.randn(n, generator=gen, dtype=torch.float64), fpr)
        out.append(float(torch.special.ndtr(torch.tensor(-t, dtype=torch.float64))))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("n, fpr", [(500, 0.01), (1000, 0.01), (200, 0.05)])
def test_held_out_fpr_is_the_asked_rate_on_average(n, fpr):
    draws = 400
    fprs = _held_out_fprs(calibrate_threshold, n, fpr, draws)
    # One draw's FPR has sd about sqrt(fpr (1 - fpr) / n) (binomial); the mean of `draws` of them
    # must sit within 4 standard errors of the target.
    tolerance = 4 * math.sqrt(fpr * (1 - fpr) / n) / math.sqrt(draws)
    assert abs(float(fprs.mean()) - fpr) < tolerance
    # The tolerance is tight enough to catch the common n * (1 - fpr) quantile, which overshoots.
    naive = _held_out_fprs(lambda s, f: float(torch.quantile(s, 1 - f)), n, fpr, draws)
    assert float(naive.mean()) - fpr > tolerance


def test_held_out_fpr_by_sampling_fresh_controls():
    gen = torch.Generator().manual_seed(1)
    flagged, total = 0, 0
    for _ in range(200):
        t = calibrate_threshold(torch.randn(500, generator=gen), fpr=0.01)
        fresh = torch.randn(2000, generator=gen)
        flagged += int((fresh > t).sum())
        total += fresh.numel()
    # sd of the pooled rate: threshold variation (~0.0045 / sqrt(200)) dominates the binomial part.
    assert abs(flagged / total - 0.01) < 4 * math.sqrt(0.0045**2 / 200 + 0.01 * 0.99 / total)


def test_too_few_controls_are_refused_with_the_number_needed():
    assert required_controls(0.01) == 500 and required_controls(0.05, min_exceedances=10) == 200
    with pytest.raises(InterpError) as err:
        calibrate_threshold(torch.randn(499), fpr=0.01)
    assert "499" in str(err.value) and "500" in str(err.value)
    assert math.isfinite(calibrate_threshold(torch.randn(500), fpr=0.01))
    with pytest.raises(InterpError, match="false-positive rate must lie"):
        calibrate_threshold(torch.randn(500), fpr=1.5)
    with pytest.raises(InterpError, match="NaN"):
        calibrate_threshold(torch.full((600,), float("nan")), fpr=0.01)


def test_token_level_scores_are_refused():
    with pytest.raises(InterpError, match="one score per response"):
        calibrate_threshold(torch.randn(600, 12), fpr=0.01)


def test_calibrate_probe_uses_per_response_means_not_pooled_tokens():
    # A probe reading feature 0. Each control response has a small mean and very noisy tokens,
    # so the token-level 99th percentile is far above the response-level one.
    probe = LinearProbe(torch.tensor([1.0, 0.0]), Standardizer.identity(2))
    gen = torch.Generator().manual_seed(2)
    n, tokens = 600, 20
    means = 0.1 * torch.randn(n, generator=gen)
    groups = torch.arange(n).repeat_interleave(tokens)
    noise = 3 * torch.randn(n * tokens, generator=gen)
    noise = noise - noise.reshape(n, tokens).mean(1).repeat_interleave(tokens)  # exact means
    rows = torch.stack([means[groups] + noise, torch.zeros(n * tokens)], dim=1)
    calibrated = calibrate_probe(probe, rows, groups, fpr=0.01)
    assert calibrated.threshold == pytest.approx(calibrate_threshold(means, 0.01), abs=1e-5)
    assert calibrated.threshold < float(torch.quantile(rows[:, 0], 0.99)) / 10
    assert calibrated.threshold_fpr == 0.01 and calibrated.n_control == n
    flagged = calibrated.flag(calibrated.score_responses(rows, groups))
    assert int(flagged.sum()) == 6  # position 0.99 * 601 leaves 6 of 600 strictly above
    # The list-of-responses form gives the same threshold.
    as_list = calibrate_probe(probe, [rows[groups == i] for i in range(n)], fpr=0.01)
    assert as_list.threshold == pytest.approx(calibrated.threshold, abs=1e-6)
