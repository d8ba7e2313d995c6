"""Elicitation fine-tunes on demonstrations, measures the lift with an interval, restores the weights."""

from __future__ import annotations

import pytest
import torch

from interp.detectors import elicit
from interp.errors import InterpError
from interp.models.generate import generate
from interp.models.model import Model
from interp.models.tiny import tiny_model

PROMPTS = [f"q{i}:" for i in range(8)]


def model() -> Model:
    hf, tokenizer = tiny_model("llama", d_model=32, n_layers=2, seed=1)
    return Model(hf=hf, tokenizer=tokenizer, spec="tiny")


def says_yes(m: Model) -> torch.Tensor:
    outs = generate(m, PROMPTS, max_new_tokens=3)
    return torch.tensor([float(o.text.startswith("yes")) for o in outs])


def test_lift_from_demonstrations_and_restoration():
    m = model()
    before = {n: p.detach().clone() for n, p in m.hf.named_parameters()}
    result = elicit(
        m, [("q0:", "yes"), ("q1:", "yes")], says_yes, steps=40, lr=1e-2, n_bootstrap=200
    )
    assert result.clean_accuracy == 0.0
    assert result.elicited_accuracy > 0.5 and result.lift_ci95[0] > 0
    assert all(torch.equal(p, before[n]) for n, p in m.hf.named_parameters())
    assert not m.hf.training


def test_bad_input():
    with pytest.raises(InterpError, match="no demonstrations"):
        elicit(model(), [], says_yes)
    with pytest.raises(InterpError, match="positive"):
        elicit(model(), [("a", "b")], says_yes, steps=0)


def test_given_clean_scores_skip_the_clean_evaluation():
    calls = []

    def evaluate(m):
        calls.append(1)
        return torch.ones(4)

    result = elicit(
        model(), [("q0:", "yes")], evaluate, steps=1, n_bootstrap=20, clean=torch.zeros(4)
    )
    assert len(calls) == 1 and result.clean_accuracy == 0.0 and result.lift == 1.0
