"""Noise injection restores the weights exactly and computes the improvement ratio with an interval."""

from __future__ import annotations

import pytest
import torch

from interp.detectors import noise_sweep, weight_noise
from interp.errors import InterpError
from interp.models.tiny import tiny_model


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_weights_restored_bit_identical_even_after_an_error():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    before = snapshot(model)
    with weight_noise(model, 0.1, seed=0):
        assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with pytest.raises(RuntimeError):
        with weight_noise(model, 0.1, seed=1, relative=True):
            raise RuntimeError("evaluation failed")
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_a_sweep_saves_the_weights_once_and_restores_them_after_every_setting(monkeypatch):
    import interp.detectors.noise as noise

    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    before = snapshot(model)
    saves = []
    original = noise.save_weights
    monkeypatch.setattr(noise, "save_weights", lambda m: saves.append(1) or original(m))
    seen = []

    def evaluate(m):
        seen.append(float(next(m.parameters()).detach().sum()))
        return torch.ones(10)

    noise_sweep(model, evaluate, stds=[0.01, 0.02], seeds=[0, 1, 2], clean=torch.ones(10))
    assert len(saves) == 1 and len(seen) == 6
    assert len(set(seen)) == 6  # every setting perturbed the clean weights, not the last setting's
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    with weight_noise(model, 0.01, seed=0):  # the same noise as the sweep's first setting
        assert float(next(model.parameters()).detach().sum()) == seen[0]


def test_drift_is_measured_under_every_setting():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    clean_weight = next(model.parameters()).detach().clone()

    def drift(m):
        return float((next(m.parameters()).detach() - clean_weight).abs().mean())

    sweep = noise_sweep(
        model, lambda m: torch.ones(8), stds=[0.0, 0.01, 0.1], seeds=[0, 1], drift=drift
    )
    assert sweep.drift is not None and sweep.drift.shape == (3, 2)
    table = sweep.accuracy_table()
    assert table[0]["drift"] == 0.0 and 0 < table[1]["drift"] < table[2]["drift"]
    assert table[1]["drift"] == pytest.approx(float(sweep.drift[1].mean()))
    assert (
        "drift" not in noise_sweep(model, lambda m: torch.ones(8), stds=[0.01]).accuracy_table()[0]
    )


def test_until_drift_doubles_the_largest_std_until_the_model_has_moved():
    from interp.detectors.noise import MAX_EXTRA_LEVELS

    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    clean_weight = next(model.parameters()).detach().clone()

    def drift(m):  # grows with the noise std
        return float((next(m.parameters()).detach() - clean_weight).std() / clean_weight.std())

    def evaluate(m):
        return torch.ones(8)

    sweep = noise_sweep(
        model, evaluate, [0.01], [0, 1], relative=True, drift=drift, until_drift=0.05
    )
    assert sweep.stds == [0.01, 0.02, 0.04, 0.08]  # 0.04 moves it by about 0.04, 0.08 by 0.08
    assert sweep.noisy.shape == (4, 2, 8) and sweep.drift is not None
    assert float(sweep.drift[-1].mean()) >= 0.05 > float(sweep.drift[-2].mean())
    capped = noise_sweep(model, evaluate, [1e-6], [0], relative=True, drift=drift, until_drift=10.0)
    assert len(capped.stds) == 1 + MAX_EXTRA_LEVELS
    unchanged = noise_sweep(
        model, evaluate, [1e-6, 0.5], [0], relative=True, drift=drift, until_drift=0.05
    )
    assert unchanged.stds == [1e-6, 0.5]
    with pytest.raises(InterpError, match="until_drift"):
        noise_sweep(model, evaluate, [0.01], [0], until_drift=0.05)


def test_same_seed_same_noise():
    model, _ = tiny_model("gpt2", d_model=32, n_layers=2)
    ids = torch.tensor([[1, 5, 6, 7]])
    with weight_noise(model, 0.05, seed=3):
        a = model(ids).logits
    with weight_noise(model, 0.05, seed=3):
        b = model(ids).logits
    assert torch.equal(a, b)


def test_ratio_above_one_for_a_model_that_improves_under_noise():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    reference = next(model.parameters()).detach().clone()

    def evaluate(m):
        # Correct on an item when the first weight moved away from its clean value: a stand-in for a
        # sandbagger whose suppression breaks under noise.
        moved = float((next(m.parameters()).detach() - reference).abs().mean())
        return (torch.arange(100) < (30 + min(60, int(moved * 2000)))).float()

    sweep = noise_sweep(model, evaluate, stds=[0.0, 0.01, 0.03], seeds=[0, 1], n_bootstrap=300)
    assert sweep.best["clean_accuracy"] == pytest.approx(0.30)
    assert sweep.ratio > 1.5 and sweep.ratio_ci95[0] > 1.0
    assert len(sweep.accuracy_table()) == 3


def test_benign_model_interval_not_above_one():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    generator = torch.Generator().manual_seed(0)
    fixed = (torch.rand(200, generator=generator) < 0.6).float()
    sweep = noise_sweep(model, lambda m: fixed, stds=[0.01, 0.02], seeds=[0, 1, 2], n_bootstrap=300)
    assert sweep.ratio == pytest.approx(1.0) and sweep.ratio_ci95[0] <= 1.0


def test_bad_input():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    with pytest.raises(InterpError, match="non-negative"):
        with weight_noise(model, -1.0, seed=0):
            pass
    with pytest.raises(InterpError, match="no noise levels"):
        noise_sweep(model, lambda m: torch.ones(3), stds=[])


def test_given_clean_scores_are_used_instead_of_a_clean_evaluation():
    model, _ = tiny_model("llama", d_model=32, n_layers=2)
    calls = []

    def evaluate(m):
        calls.append(1)
        return torch.ones(50)

    given = torch.cat([torch.ones(25), torch.zeros(25)])
    sweep = noise_sweep(model, evaluate, stds=[0.01], seeds=[0, 1], n_bootstrap=50, clean=given)
    assert len(calls) == 2  # the two noisy settings only
    assert torch.equal(sweep.clean, given) and sweep.ratio == pytest.approx(2.0)
