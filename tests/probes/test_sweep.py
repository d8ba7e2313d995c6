"""Cross-validation by prompt, the per-layer sweep, and its controls on planted data."""

from __future__ import annotations

import pytest
import torch

from interp.errors import InterpError
from interp.probes.fit import fit_logistic_probe
from interp.probes.layer_sweep import layer_sweep
from interp.probes.metrics import auroc
from interp.probes.scoring import mean_per_prompt
from interp.probes.sweep import (
    assign_folds,
    correctness_auroc,
    cross_validate,
    permutation_null,
    shuffled_labels,
    split_by_prompt,
)

N_BOOT = 200  # enough for a 95% interval in a test


@pytest.fixture(autouse=True)
def one_thread():
    """These fits are tiny: on a busy 2-core machine a second BLAS thread costs 1000x, not 2x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def prompts_with_identity(n_prompts=100, tokens=6, d=16, signal=0.0, identity=1.0, seed=0):
    """Rows x = identity * g_prompt + e + signal * (2y - 1) * u: tokens of a prompt share g.

    With signal 0 the labels are pure noise, but a probe that has seen some of a prompt's tokens
    can still recognise the rest by g: exactly what a token-level split would leak.
    """
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randperm(n_prompts, generator=gen) % 2
    groups = torch.arange(n_prompts).repeat_interleave(tokens)
    u = torch.randn(d, generator=gen)
    u = u / u.norm()
    g = identity * torch.randn(n_prompts, d, generator=gen)
    sign = (2 * labels[groups] - 1).float()[:, None]
    rows = g[groups] + torch.randn(n_prompts * tokens, d, generator=gen) + signal * sign * u
    return rows, labels, groups, u


def test_folds_never_share_a_prompt_and_cover_every_row():
    rows, labels, groups, _ = prompts_with_identity(n_prompts=23, tokens=5)
    splits = split_by_prompt(groups, labels, folds=5, seed=3)
    tested = torch.cat([test for _, test in splits])
    assert torch.equal(tested.sort().values, torch.arange(rows.shape[0]))  # each row tested once
    for train, test in splits:
        assert set(groups[train].tolist()).isdisjoint(groups[test].tolist())
        assert set(labels[groups[test]].tolist()) == {0, 1}  # stratified: both classes per fold
    sizes = torch.bincount(assign_folds(labels, folds=5, seed=3))
    assert int(sizes.max() - sizes.min()) <= 1
    with pytest.raises(InterpError, match="folds <= 2"):
        assign_folds(torch.tensor([0, 0, 0, 1, 1]), folds=3)


def test_cross_validation_records_which_fold_scored_each_prompt():
    rows, labels, groups, _ = prompts_with_identity(signal=1.5)
    cv = cross_validate(rows, labels, groups, folds=5, n_boot=0)
    for f, (_, test) in enumerate(split_by_prompt(groups, labels, folds=5, seed=0)):
        assert torch.equal(cv.prompt_ids[cv.fold == f], groups[test].unique())


def test_prompt_split_stays_at_chance_where_a_token_split_would_leak():
    # Noise labels, strong prompt identity, 48 dims: memorising prompts is easy.
    by_prompt, by_token = [], []
    for seed in range(8):
        rows, labels, groups, _ = prompts_with_identity(n_prompts=60, d=48, identity=3.0, seed=seed)
        by_prompt.append(cross_validate(rows, labels, groups, folds=5, n_boot=0).auroc.value)
        # The same data split by token: held-out tokens of training prompts are recognised.
        test = torch.rand(rows.shape[0], generator=torch.Generator().manual_seed(seed)) < 0.2
        probe = fit_logistic_probe(rows[~test], labels, groups[~test])
        leaked = mean_per_prompt(probe.score_tokens(rows[test]), groups[test], len(labels))
        seen = ~torch.isnan(leaked)
        by_token.append(auroc(leaked[seen], labels[seen]))
    assert abs(sum(by_prompt) / 8 - 0.5) < 0.07  # null sd of one value ~0.1: mean of 8 ~0.035
    assert sum(by_token) / 8 > 0.85 and min(by_token) > 0.75


def test_cross_validation_finds_a_planted_signal():
    rows, labels, groups, _ = prompts_with_identity(signal=1.5)
    cv = cross_validate(rows, labels, groups, folds=5, n_boot=N_BOOT)
    assert cv.auroc.low > 0.8 and cv.auroc.value > 0.9
    assert torch.equal(cv.prompt_ids, torch.arange(100)) and torch.equal(cv.labels, labels)
    assert len(cv.fold_auroc) == 5 and torch.bincount(cv.fold).tolist() == [20] * 5
    mass = cross_validate(rows, labels, groups, folds=5, method="mass_mean", n_boot=N_BOOT)
    assert mass.auroc.value > 0.9


def test_shuffled_labels_sit_at_chance():
    rows, labels, groups, _ = prompts_with_identity(signal=1.5, seed=1)
    shuffled = shuffled_labels(labels, groups, seed=0)
    assert torch.equal(shuffled.sort().values, labels.sort().values)  # class counts kept
    null = permutation_null(rows, labels, groups, n=12)
    assert abs(float(null.mean()) - 0.5) < 0.06  # null sd of one value ~0.08: mean of 12 ~0.023
    assert float(null.max()) < 0.8  # while the real labels give > 0.9


def test_layer_sweep_reports_signal_and_chance_level_controls():
    signal_rows, labels, groups, _ = prompts_with_identity(signal=1.5, seed=1)
    null_rows, _, _, _ = prompts_with_identity(signal=0.0, seed=2)
    hooks = {
        "blocks.0.hook_resid_post": (null_rows, groups),
        "blocks.1.hook_resid_post": (signal_rows, groups),
    }
    null, signal = layer_sweep(hooks, labels, n_boot=N_BOOT)
    assert (null["layer"], signal["layer"]) == (0, 1) and signal["n_prompts"] == 100
    assert signal["n_rows"] == 600 and signal["method"] == "logistic"
    assert signal["auroc_low"] > 0.8 and null["auroc_high"] < signal["auroc_low"]
    # The null layer's AUROC is a draw from the CV null (sd ~0.08 here, see permutation_null).
    assert abs(null["auroc"] - 0.5) < 0.2
    for row in (null, signal):
        assert row["shuffled_auroc_low"] < 0.5 < row["shuffled_auroc_high"]
        assert row["norm_auroc_low"] < 0.5 < row["norm_auroc_high"]  # the signal is not scale
        assert row["correctness_auroc"] is None  # no grades given
    (bare,) = layer_sweep(
        {"blocks.1.hook_resid_post": (signal_rows, groups)}, labels, n_boot=N_BOOT, controls=False
    )
    assert bare["auroc"] == signal["auroc"] and "shuffled_auroc" not in bare


def test_norm_control_catches_a_signal_that_is_only_scale():
    rows, labels, groups, _ = prompts_with_identity(identity=0.0, seed=4)
    scaled = rows * (1 + 0.5 * labels[groups]).float()[:, None]  # positives are just larger
    (row,) = layer_sweep({"blocks.0.hook_resid_post": (scaled, groups)}, labels, n_boot=N_BOOT)
    assert row["norm_auroc_low"] > 0.9


def test_correctness_control_within_one_condition():
    rows, labels, groups, u = prompts_with_identity(signal=1.5, seed=5)
    correct = torch.rand(100, generator=torch.Generator().manual_seed(5)) < 0.5
    # A confounded layer: in every condition, wrong answers also move along the probe direction.
    confounded = rows + 2.0 * (~correct[groups]).float()[:, None] * u
    hooks = {
        "blocks.0.hook_resid_post": (rows, groups),
        "blocks.1.hook_resid_post": (confounded, groups),
    }
    clean, bad = layer_sweep(hooks, labels, correct=correct, n_boot=N_BOOT)
    assert clean["correctness_auroc_low"] < 0.5 < clean["correctness_auroc_high"]
    assert bad["correctness_auroc_low"] > 0.6
    # The helper directly: one condition only, incorrect answers as the positive class.
    cv = cross_validate(confounded, labels, groups, n_boot=N_BOOT)
    ci = correctness_auroc(cv.scores, correct[cv.prompt_ids], cv.labels == 0, n_boot=N_BOOT)
    assert ci.value == pytest.approx(bad["correctness_auroc"])
    with pytest.raises(InterpError, match="both correct and incorrect"):
        correctness_auroc(cv.scores, torch.ones(100, dtype=torch.bool))


def test_best_row_takes_the_highest_auroc_and_breaks_ties_toward_the_middle_layer():
    from interp.probes import best_row

    rows = [{"layer": layer, "auroc": a} for layer, a in enumerate([0.9, 0.95, 0.97, 0.8, 0.7])]
    assert best_row(rows)["layer"] == 2
    tied = [{"layer": layer, "auroc": 1.0} for layer in range(5)]
    assert best_row(tied)["layer"] == 2
    assert best_row([*tied[3:], {"layer": 0, "auroc": 0.99}])["layer"] == 3
    with pytest.raises(InterpError):
        best_row([])
