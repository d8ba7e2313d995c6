"""The plain-hook rotation: norm kept, only the last prompt token in the prefill, hooks removed."""

from __future__ import annotations

import torch

from interp.organisms.steerability import (
    contrast_directions,
    last_token_states,
    random_like,
    rotate_last_prompt_token,
    steered_eval,
)
from interp.organisms.tasks import generate, render_prompt
from interp.organisms.tokenizer import BOS, VOCAB, encode
from interp.organisms.train import Size, new_model


def _model():
    return new_model(Size(d_model=32, n_layers=3, n_heads=4), seed=0).eval()


def _capture(model, ids, layer):
    seen = []
    handle = model.model.layers[layer].register_forward_hook(
        lambda m, i, o: seen.append((o[0] if isinstance(o, tuple) else o).clone())
    )
    try:
        with torch.no_grad():
            model(input_ids=ids)
    finally:
        handle.remove()
    return seen[0]


def test_rotation_changes_only_the_last_token_and_keeps_its_norm():
    model = _model()
    ids = torch.tensor([[VOCAB[BOS], *encode("Q:12+34\nA:")]])
    v = torch.randn(32)
    before = _capture(model, ids, 1)
    with rotate_last_prompt_token(model, {1: v}, alpha=0.5):
        after = _capture(model, ids, 1)
    assert torch.equal(after[:, :-1], before[:, :-1])
    assert torch.allclose(after[:, -1].norm(), before[:, -1].norm(), rtol=1e-5)
    # the rotation moves the state toward v
    cos = torch.nn.functional.cosine_similarity
    assert cos(after[0, -1], v, dim=0) > cos(before[0, -1], v, dim=0)
    # hooks are gone afterwards, and single-column (decoding) passes are untouched
    assert torch.equal(_capture(model, ids, 1), before)
    one = ids[:, :1]
    with rotate_last_prompt_token(model, {1: v}, alpha=0.5):
        assert torch.equal(_capture(model, one, 1), _capture(model, one, 1))


def test_last_token_states_ignore_left_padding():
    model = _model()
    prompts = ["Q:1+2\nA:", "Show steps.\nQ:10+20+30\nA:"]
    together = last_token_states(model, prompts)
    alone = torch.cat([last_token_states(model, [p]) for p in prompts], dim=1)
    assert together.shape == (3, 2, 32)
    assert torch.allclose(together, alone, atol=1e-5)


def test_directions_and_controls_have_the_right_shape_and_norm():
    model = _model()
    items = generate("add", 4, seed=0, split="train")
    d = contrast_directions(model, items)
    assert d.shape == (3, 32)
    dirs = {layer: d[layer] for layer in range(3)}
    rand = random_like(dirs, seed=0)
    for layer in dirs:
        assert torch.allclose(rand[layer].norm(), dirs[layer].norm())
    result = steered_eval(model, generate("add", 2, seed=0, split="test"), dirs, alpha=0.5)
    assert result.n == 2
    assert render_prompt(items[0]).endswith("\nA:")
