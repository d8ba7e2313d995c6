"""Latent-space elicitation on the two real models: the norm bound holds and the optimized
perturbation lowers the demonstrations' loss below the clean model and below random vectors of
equal norm, with the weights left as found."""

from __future__ import annotations

import pytest
import torch

from interp.detectors.elicit import demonstration_batch
from interp.detectors.latent import (
    demonstration_nll,
    optimize_perturbation,
    random_like,
    residual_norms,
)

DEMOS = [
    ("Q: What is the capital of France?\nA:", " Paris"),
    ("Q: What is the capital of Japan?\nA:", " Tokyo"),
    ("Q: What is the capital of Kenya?\nA:", " Nairobi"),
    ("Q: What is the capital of Peru?\nA:", " Lima"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_attack_on_a_real_model_beats_random_vectors_of_equal_norm(name, request):
    model = request.getfixturevalue(name)
    hook = f"blocks.{model.n_layers // 2}.hook_resid_post"
    before = [p.detach().clone() for p in list(model.hf.parameters())[:4]]
    batch = demonstration_batch(model.tokenizer, DEMOS, model.device)
    (norm,) = residual_norms(model, batch, [hook])
    radius = 0.1 * norm
    attack = optimize_perturbation(model, batch, [hook], [radius], steps=8, lr=0.1)
    assert float(attack.deltas.norm()) <= radius * (1 + 1e-6)
    with torch.no_grad():
        clean = float(demonstration_nll(model, batch, [hook], None))
        attacked = float(demonstration_nll(model, batch, [hook], attack.deltas))
        randoms = [
            float(demonstration_nll(model, batch, [hook], random_like(attack, seed).deltas))
            for seed in range(2)
        ]
    assert attacked < clean and attacked < min(randoms)
    assert all(
        torch.equal(a, b) for a, b in zip(before, list(model.hf.parameters())[:4], strict=True)
    )
