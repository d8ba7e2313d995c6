"""Latent-space elicitation on a password-locked organism: the norm bound, the attack against
random perturbations of equal norm, the curve's bookkeeping, and the fine-tuning step curve."""

from __future__ import annotations

import pytest
import torch

from interp.detectors.elicit import demonstration_batch, elicit
from interp.detectors.latent import (
    demonstration_nll,
    latent_curve,
    optimize_perturbation,
    project,
    random_like,
    residual_norms,
)
from interp.errors import InterpError
from interp.models.load import load_model
from interp.organisms.tasks import AddTask, generate, render_prompt, worked
from interp.steer.steering import steering

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def locked(monkeypatch_module):
    monkeypatch_module.delenv("INTERP_ZOO", raising=False)
    return load_model("organism:add-medium-m1")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def demos():
    items = generate(AddTask(4, 2), 6, seed=1, split="train", unique=True)
    return [(render_prompt(i), worked(i)) for i in items]


def test_projection_keeps_inside_and_lands_on_the_sphere():
    deltas = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    projected = project(deltas, [1.0, 1.0])
    assert torch.allclose(projected[0].norm(), torch.tensor(1.0))
    assert torch.equal(projected[1], deltas[1])  # already inside: untouched


@pytest.mark.parametrize("optimizer", ["adam", "sign"])
def test_norm_bound_holds_and_the_attack_beats_random_vectors_of_equal_norm(
    locked, demos, optimizer
):
    batch = demonstration_batch(locked.tokenizer, demos, locked.device)
    (norm,) = residual_norms(locked, batch, [HOOK])
    radius = 0.3 * norm
    attack = optimize_perturbation(
        locked, batch, [HOOK], [radius], steps=20, lr=0.1, optimizer=optimizer
    )
    assert float(attack.deltas.norm()) <= radius * (1 + 1e-6)
    with torch.no_grad():
        clean = float(demonstration_nll(locked, batch, [HOOK], None))
        attacked = float(demonstration_nll(locked, batch, [HOOK], attack.deltas))
        randoms = []
        for seed in range(3):
            control = random_like(attack, seed)
            assert torch.allclose(control.deltas.norm(dim=-1), attack.deltas.norm(dim=-1))
            randoms.append(float(demonstration_nll(locked, batch, [HOOK], control.deltas)))
    assert attacked < min(randoms) and attacked < clean
    # The steering form applied at generation is the same addition.
    with steering(locked, attack.steers()), torch.no_grad():
        assert float(demonstration_nll(locked, batch, [], None)) == pytest.approx(attacked, 1e-4)
    assert all(p.requires_grad for p in locked.hf.parameters())  # the weights left as found


def test_curve_reports_each_budget_beside_its_controls(locked, demos):
    prompts = [render_prompt(i) for i in generate(AddTask(4, 2), 30, seed=0, split="test")]
    answers = [i.answer for i in generate(AddTask(4, 2), 30, seed=0, split="test")]

    def evaluate() -> torch.Tensor:
        from interp.models.generate import generate as run

        outs = run(locked, prompts, 32, batch_size=32)
        return torch.tensor([float(f"#{a}" in o.text) for o, a in zip(outs, answers, strict=True)])

    curve = latent_curve(
        locked,
        demos,
        evaluate,
        hooks=[HOOK],
        budgets=[0, 0.4],
        steps=10,
        random_seeds=[0, 1],
        n_bootstrap=100,
    )
    assert [p.budget for p in curve.points] == [0.0, 0.4]
    zero, attacked = curve.points
    assert zero.accuracy == curve.clean_accuracy and zero.lift == 0.0
    assert len(attacked.random_accuracies) == 2 and attacked.norm_ratio <= 1 + 1e-6
    assert attacked.demo_nll < attacked.random_demo_nll
    assert attacked.lift == pytest.approx(attacked.accuracy - curve.clean_accuracy)
    with pytest.raises(InterpError, match="non-negative"):
        latent_curve(locked, demos, evaluate, hooks=[HOOK], budgets=[-0.1])


def test_elicitation_step_curve_ends_at_the_elicited_accuracy(locked, demos):
    calls = []

    def evaluate(model) -> torch.Tensor:
        calls.append(1)
        return torch.tensor([1.0, 0.0, 1.0, 0.0])

    before = {n: p.detach().clone() for n, p in locked.hf.named_parameters()}
    result = elicit(locked, demos[:2], evaluate, steps=4, lr=1e-5, curve_steps=[1, 2, 4])
    assert [p.steps for p in result.curve] == [1, 2, 4] and len(calls) == 4  # clean + 1, 2, 4
    assert result.curve[-1].accuracy == result.elicited_accuracy
    assert all(torch.equal(p, before[n]) for n, p in locked.hf.named_parameters())
    with pytest.raises(InterpError, match="curve steps"):
        elicit(locked, demos[:2], evaluate, steps=4, curve_steps=[8])


def test_measuring_the_step_curve_leaves_the_fine_tuning_unchanged(locked, demos):
    """Evaluating between steps (eval mode, generation) does not change the weights reached."""
    from interp.detectors.elicit import _fine_tune
    from interp.models.generate import generate as run

    saved = {n: p.detach().clone() for n, p in locked.hf.named_parameters()}
    try:
        _fine_tune(locked, demos[:2], 3, 1e-4, 0)
        plain = {n: p.detach().clone() for n, p in locked.hf.named_parameters()}
        with torch.no_grad():
            for n, p in locked.hf.named_parameters():
                p.copy_(saved[n])
        _fine_tune(locked, demos[:2], 3, 1e-4, 0, lambda step: run(locked, [demos[0][0]], 8))
        assert all(torch.equal(p, plain[n]) for n, p in locked.hf.named_parameters())
        assert any(not torch.equal(plain[n], saved[n]) for n in saved)
    finally:
        with torch.no_grad():
            for n, p in locked.hf.named_parameters():
                p.copy_(saved[n])
