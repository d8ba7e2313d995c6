"""The reported effect of a steer: KL between steered and unsteered next-token distributions along
the steered continuation, matching a direct computation, and zero when the steer changes nothing."""

from __future__ import annotations

import torch

from interp.models.generate import generate
from interp.models.load import load_model
from interp.steer import Steer, steering
from interp.steer.effect import steer_effect


def test_effect_matches_a_direct_computation(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steer = Steer("blocks.1.hook_resid_post", "add", v, alpha=4.0, positions="last")
    with steering(model, steer):
        generated = generate(model, "the day was", max_new_tokens=6)[0].token_ids
    effect = steer_effect(model, "the day was", generated, steer)
    ids = model.tokenizer("the day was", return_tensors="pt").input_ids
    clean = model.forward(ids)[0, -1].log_softmax(-1)
    with steering(model, steer):
        steered = model.forward(ids)[0, -1].log_softmax(-1)
    direct = float((steered.exp() * (steered - clean)).sum())
    assert abs(effect.kl_first - direct) < 1e-5 and effect.kl_first > 0
    # A last-prompt-token steer in prefill reaches later tokens only through the cache.
    assert effect.n_positions == len(generated) > 1 and effect.kl_mean > 0


def test_a_steer_that_changes_nothing_says_so(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steer = Steer("blocks.1.hook_resid_post", "rotate", v, alpha=1e-12, positions="last")
    effect = steer_effect(model, "the day was", [5, 6], steer)
    assert effect.kl_mean < 1e-6 and effect.argmax_changed == 0
    assert "did not change" in effect.describe()
