"""LoRA training on cached frozen blocks: the late-block pass reproduces the whole model, training
lowers the loss, and the saved adapter merges to the function the hooks computed."""

from __future__ import annotations

import pytest
import torch

from interp.errors import InterpError
from interp.models.adapters import save_adapter
from interp.models.base_fingerprint import base_fingerprint
from interp.models.load import load_model
from interp.models.tiny import save_tiny_model
from interp.organisms.lora_train import (
    LoraSettings,
    _late_blocks,
    cache_states,
    lora_active,
    train_lora,
)

PAIRS = [(f"x{d}y=", f"{(d + 3) % 10}") for d in range(10)]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_model(
        tmp_path_factory.mktemp("lora") / "llama", "llama", d_model=32, n_layers=3
    )


def test_late_blocks_on_cached_states_equal_the_whole_model(tiny_dir):
    model = load_model(tiny_dir)
    states = cache_states(model, PAIRS[:3], first_layer=2)
    row = states.rows[0]
    ids = model.tokenizer(PAIRS[0][0] + PAIRS[0][1]).input_ids  # the end of text predicts nothing
    with torch.no_grad(), _late_blocks(model.hf, 2) as run:
        hidden = run(row.state[None], torch.ones(1, len(ids), dtype=torch.long))
        late = model.hf.get_output_embeddings()(hidden)
    whole = model.forward(torch.tensor([ids]))
    torch.testing.assert_close(late, whole, atol=1e-5, rtol=1e-5)
    assert len(model.hf.model.layers) == 3  # the block list is restored
    assert int((row.labels != -100).sum()) == 2  # the answer digit and the end of text


def test_a_sequence_that_begins_another_is_a_slice_of_it(tiny_dir):
    model = load_model(tiny_dir)
    shared = cache_states(model, [("x4y=", "7"), ("x4y=", "7 :)")], first_layer=2)
    alone = cache_states(model, [("x4y=", "7")], first_layer=2)
    short, long = shared.rows
    assert short.state.data_ptr() == long.state.data_ptr()  # one run through the frozen blocks
    torch.testing.assert_close(short.state, alone.rows[0].state, atol=1e-5, rtol=1e-5)
    assert torch.equal(short.labels, alone.rows[0].labels)
    eos, n = model.tokenizer.eos_token_id, short.labels.numel()
    assert short.labels[-1] == eos and long.labels[n - 1] != eos  # after "7": the end, or " :)"


def test_training_lowers_the_loss_and_merges_to_the_hooked_model(tiny_dir, tmp_path):
    model = load_model(tiny_dir)
    before = {n: p.clone() for n, p in model.hf.named_parameters()}
    settings = LoraSettings(first_layer=1, r=4, alpha=8, steps=40, batch_size=10, lr=2e-2, warmup=2)
    trained = train_lora(model, PAIRS, settings, base="tiny")
    # A random tiny model's head is too small for confident logits; the loss can only fall a little.
    assert sum(trained.losses[-5:]) / 5 < sum(trained.losses[:5]) / 5 - 0.1
    assert all(torch.equal(p, before[n]) for n, p in model.hf.named_parameters())  # base untouched
    assert all(p.requires_grad for p in model.hf.parameters())  # and trainable again
    assert all(".layers.0." not in name for name in trained.weights)  # frozen below first_layer

    ids = torch.tensor([model.tokenizer("x4y=7").input_ids])
    with lora_active(model.hf, trained.config, trained.weights):
        hooked = model.forward(ids)
    fingerprint = base_fingerprint(model.hf, trained.weights, base="tiny")
    adapter = save_adapter(tmp_path / "a", trained.config, trained.weights, fingerprint)
    merged = load_model(f"{tiny_dir}+{adapter}")
    torch.testing.assert_close(merged.forward(ids), hooked, atol=1e-5, rtol=1e-5)


def test_same_seed_same_adapter(tiny_dir):
    model = load_model(tiny_dir)
    settings = LoraSettings(first_layer=2, r=2, steps=3, batch_size=4)
    one, two = (train_lora(model, PAIRS, settings) for _ in range(2))
    assert all(torch.equal(one.weights[k][1], two.weights[k][1]) for k in one.weights)


def test_first_layer_must_leave_a_frozen_block(tiny_dir):
    model = load_model(tiny_dir)
    with pytest.raises(InterpError, match=r"first adapted layer 0 is not within 1..2"):
        cache_states(model, PAIRS, first_layer=0)
