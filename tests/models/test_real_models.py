"""The two real pretrained models (SmolLM2-135M-Instruct, Llama; Gemma-3-270M, Gemma 3), loaded from
their GGUF files: the residual stream is read where transformers says it is, the block's parts add up
to it, both backends agree, hooks never outlive their use, and padding changes nothing."""

from __future__ import annotations

import pytest
import torch

from interp.capture.run import capture
from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.models.generate import generate
from interp.models.load import with_backend
from interp.models.tokens import Chat
from interp.steer import Steer, steering

PROMPTS = ["The capital of France is", "Water boils at", "2 + 3 ="]
MODELS = ["smollm2", "gemma3"]


@pytest.fixture(params=MODELS)
def real(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def bridges(request):
    """Each real model behind the TransformerLens bridge, made once (on a copy)."""
    made = {}

    def get(name):
        if name not in made:
            made[name] = with_backend(request.getfixturevalue(name), "bridge")
        return made[name]

    return get


def read_block_parts(model, ids):
    """Every hook kind at every layer, and transformers' own hidden states, for one forward."""
    kinds = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
    seen: dict[tuple[str, int], torch.Tensor] = {}

    def keep(kind, layer):
        def fn(h):
            seen[kind, layer] = h.detach().clone()

        return fn

    fns = [
        (f"blocks.{layer}.hook_{kind}", keep(kind, layer))
        for layer in range(model.n_layers)
        for kind in kinds
    ]
    with torch.no_grad(), hooked(model, fns):
        out = model.hf(input_ids=ids, output_hidden_states=True)
    return seen, out.hidden_states


@pytest.mark.parametrize("name", MODELS)
def test_residual_stream_is_transformers_hidden_states_and_blocks_add_up(name, request):
    model = request.getfixturevalue(name)
    ids = model.tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    seen, hidden = read_block_parts(model, ids)
    last = model.n_layers - 1
    for layer in range(model.n_layers):
        post = seen["resid_post", layer]
        if layer < last:  # transformers' last entry is after the final norm
            torch.testing.assert_close(post, hidden[layer + 1], atol=1e-5, rtol=0)
        pre = seen["resid_pre", layer]
        scale = post.abs().max()
        torch.testing.assert_close(
            pre + seen["attn_out", layer] + seen["mlp_out", layer], post, atol=1e-5 * scale, rtol=0
        )
        torch.testing.assert_close(
            pre + seen["attn_out", layer], seen["resid_mid", layer], atol=1e-5 * scale, rtol=0
        )
    assert count_hooks(model.hf) == 0


@pytest.mark.parametrize("name", MODELS)
def test_backends_agree_on_logits_and_greedy_continuations(name, request, bridges):
    model, bridge = request.getfixturevalue(name), bridges(name)
    ids = model.tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    logits = model.forward(ids)
    torch.testing.assert_close(bridge.forward(ids), logits, atol=1e-3 * logits.abs().max(), rtol=0)
    ours = [g.token_ids for g in generate(model, PROMPTS, max_new_tokens=8)]
    theirs = [g.token_ids for g in generate(bridge, PROMPTS, max_new_tokens=8)]
    assert ours == theirs
    hooks = ["blocks.3.hook_resid_post", "blocks.-1.hook_resid_post"]
    a = capture(model, PROMPTS, hooks=hooks, positions="last").activations
    b = capture(bridge, PROMPTS, hooks=hooks, positions="last").activations
    for hook in a:
        torch.testing.assert_close(b[hook], a[hook], atol=1e-3 * a[hook].abs().max(), rtol=0)


def test_batched_equals_unbatched_with_left_padding(real):
    hooks = "resid_post"
    together = capture(real, PROMPTS, hooks=hooks, positions="last", batch_size=3).activations
    alone = capture(real, PROMPTS, hooks=hooks, positions="last", batch_size=1).activations
    for hook, rows in together.items():
        scale = rows.abs().max()
        torch.testing.assert_close(rows, alone[hook], atol=1e-4 * scale, rtol=0)
    batched = [g.token_ids for g in generate(real, PROMPTS, max_new_tokens=6, batch_size=3)]
    single = [g.token_ids for g in generate(real, PROMPTS, max_new_tokens=6, batch_size=1)]
    assert batched == single


def test_steering_changes_only_what_it_should_and_leaves_no_hooks(real):
    layer = real.n_layers // 2
    hook = f"blocks.{layer}.hook_resid_post"
    ids = real.tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    clean = capture(real, [PROMPTS[0]], hooks="resid_post", positions="all").activations
    v = torch.randn(real.d_model, generator=torch.Generator().manual_seed(0))
    v = v / v.norm() * float(clean[hook].norm(dim=-1).mean())
    with steering(real, Steer(hook, "add", v, alpha=1.0, positions="last")):
        steered = capture(real, [PROMPTS[0]], hooks="resid_post", positions="all").activations
        steered_text = generate(real, PROMPTS[0], max_new_tokens=8)[0].token_ids
    assert count_hooks(real.hf) == 0
    for earlier in range(layer):  # upstream of the steer: untouched
        name = f"blocks.{earlier}.hook_resid_post"
        assert torch.equal(steered[name], clean[name])
    # At the steered layer: the last token moved by exactly v, earlier tokens not at all.
    torch.testing.assert_close(steered[hook][-1], clean[hook][-1] + v, atol=1e-4, rtol=0)
    assert torch.equal(steered[hook][:-1], clean[hook][:-1])
    # Downstream and in the continuation, something changed; afterwards, everything is back.
    after = f"blocks.{layer + 1}.hook_resid_post"
    assert not torch.equal(steered[after][-1], clean[after][-1])
    assert steered_text != generate(real, PROMPTS[0], max_new_tokens=8)[0].token_ids
    again = real.forward(ids)
    torch.testing.assert_close(again, real.forward(ids), atol=0, rtol=0)


def test_chat_records_on_a_chat_model_and_a_base_model(smollm2, gemma3):
    chat = Chat.of("What is the capital of France?")
    got = capture(smollm2, [chat], hooks="blocks.-1.hook_resid_post", positions="last")
    assert got.activations["blocks.29.hook_resid_post"].shape == (1, smollm2.d_model)
    rendered = smollm2.tokenizer.apply_chat_template(
        chat.as_dicts(), tokenize=False, add_generation_prompt=True
    )
    ids = smollm2.tokenizer(rendered, add_special_tokens=False).input_ids
    assert int(got.position[0]) == len(ids) - 1  # `last` is the template's last token
    reply = generate(smollm2, chat, max_new_tokens=12)[0].text
    assert "Paris" in reply  # a fact the model knows, reached through its template
    transcript = Chat.of(
        [
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "Hi there!"},
        ]
    )
    response = capture(
        smollm2, [transcript], hooks="blocks.0.hook_resid_post", positions="response"
    )
    first = int(response.position[0])
    text = smollm2.tokenizer.decode(_item_ids(smollm2, transcript)[first:])
    assert text.startswith("Hi there!")
    with pytest.raises(InterpError, match="has no chat template"):
        capture(gemma3, [chat], hooks="blocks.0.hook_resid_post", positions="last")


def _item_ids(model, prompt):
    from interp.models.tokens import encode

    return encode(model.tokenizer, prompt).ids
