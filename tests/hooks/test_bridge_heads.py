"""Head-level hook points on the TransformerLens bridge read and steer exactly what the hf backend
does: q and k after rotary and q/k norms, k and v per key-value head, z per head, the pattern, and
single heads; names the bridge cannot match are refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from interp.capture.run import capture
from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.hooks.names import HEAD_KINDS, all_hook_names
from interp.models.load import with_backend
from interp.models.model import Model
from interp.models.tiny import tiny_family_model
from interp.steer import Steer, steering

# Llama (grouped-query), Qwen 3 (q/k norms after the reshape), OLMo 2 (q/k norms before it),
# Gemma 2 (softcapping, query_pre_attn_scalar, a sliding window shorter than the prompt), GPT-2
# (fused qkv, no rotary); GPT-NeoX rotates inside its fused attention, so its q and k are refused.
FAMILIES: dict[str, dict[str, Any]] = {
    "llama": {},
    "qwen3": {},
    "olmo2": {},
    "gemma2": dict(sliding_window=3, query_pre_attn_scalar=16, attn_logit_softcapping=5.0),
    "gpt2": {},
    "gpt_neox": {},
}
REFUSED = {"gpt_neox": ("q", "k")}
IDS = torch.tensor([[1, 5, 6, 7, 8, 9, 10, 11], [1, 20, 21, 22, 23, 24, 25, 26]])


def pair(family: str) -> tuple[Model, Model]:
    hf, tokenizer = tiny_family_model(family, **FAMILIES[family])
    model = Model(hf, tokenizer, f"tiny:{family}")
    return model, with_backend(model, "bridge")


@pytest.fixture(scope="module", params=list(FAMILIES))
def models(request) -> tuple[str, Model, Model]:
    return (request.param, *pair(request.param))


@pytest.fixture(scope="module")
def llama() -> tuple[Model, Model]:
    return pair("llama")


def read(model: Model, names: list[str], ids: torch.Tensor = IDS) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}

    def keep(name):
        return lambda h: seen.__setitem__(name, h.detach().clone())

    with hooked(model, [(name, keep(name)) for name in names]):
        model.forward(ids)
    return seen


def test_every_head_point_equals_the_hf_backends_at_every_layer(models):
    family, hf, bridge = models
    kinds = [k for k in HEAD_KINDS if k not in REFUSED.get(family, ())]
    names = [f"blocks.{layer}.attn.hook_{k}" for layer in range(hf.n_layers) for k in kinds]
    a, b = read(hf, names), read(bridge, names)
    for name in names:
        assert a[name].shape == b[name].shape, name
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-5, msg=name)
    assert count_hooks(bridge.runner) == 0
    assert set(names) <= set(all_hook_names(bridge))


def test_q_and_k_are_after_rotary_not_the_bridges_hook_q(llama):
    hf, bridge = llama
    raw = {}
    hook = bridge.bridge.hook_dict["blocks.1.attn.hook_q"]
    handle = hook.register_forward_hook(lambda m, i, o: raw.update(q=o.detach().clone()))
    try:
        ours = read(bridge, ["blocks.1.attn.hook_q"])["blocks.1.attn.hook_q"]
    finally:
        handle.remove()
    torch.testing.assert_close(ours, read(hf, ["blocks.1.attn.hook_q"])["blocks.1.attn.hook_q"])
    # Position 0 has no rotation; later positions differ from the projection.
    before = raw["q"].view(ours.shape)
    torch.testing.assert_close(ours[:, 0], before[:, 0])
    assert not torch.allclose(ours[:, 1:], before[:, 1:], atol=1e-3)


def test_single_heads_are_slices_on_the_bridge(models):
    family, hf, bridge = models
    kinds = [k for k in HEAD_KINDS if k not in REFUSED.get(family, ())]
    whole = read(hf, [f"blocks.1.attn.hook_{k}" for k in kinds])
    heads = {"q": 3, "k": 1, "v": 1, "z": 2, "pattern": 3}
    one = read(bridge, [f"blocks.1.attn.hook_{k}[{heads[k]}]" for k in kinds])
    for k in kinds:
        dim = 1 if k == "pattern" else 2
        expected = whole[f"blocks.1.attn.hook_{k}"].select(dim, heads[k])
        torch.testing.assert_close(
            one[f"blocks.1.attn.hook_{k}[{heads[k]}]"], expected, rtol=0, atol=1e-5
        )


def test_capture_through_head_points_on_the_bridge(llama):
    hf, bridge = llama
    prompts = [f"word {c}{c}" for c in "abcdef"]
    for hook in ("attn.hook_q", "blocks.1.attn.hook_z[2]", "attn.hook_k"):
        a = capture(hf, prompts, hook, positions="last", progress=False)
        b = capture(bridge, prompts, hook, positions="last", progress=False)
        assert a.hooks == b.hooks
        for name in a.hooks:
            assert b.activations[name].shape == a.activations[name].shape
            torch.testing.assert_close(b.activations[name], a.activations[name], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "hook",
    [
        "blocks.1.attn.hook_z[3]",
        "blocks.1.attn.hook_q[1]",
        "blocks.0.attn.hook_k[0]",
        "blocks.2.attn.hook_v[1]",
    ],
)
def test_a_per_head_add_moves_the_output_the_same_on_both_backends(llama, hook):
    hf, bridge = llama
    v = torch.randn(8, generator=torch.Generator().manual_seed(0))
    # At the last position only: one vector added to every key would shift all scores equally.
    steer = Steer(hook, "add", v, alpha=10.0, positions="last")
    clean = hf.forward(IDS)
    with steering(hf, steer):
        a = hf.forward(IDS)
    with steering(bridge, steer):
        b = bridge.forward(IDS)
    assert (a - clean).abs().max() > 1e-3
    torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    torch.testing.assert_close(bridge.forward(IDS), clean, rtol=0, atol=1e-5)


def test_a_replaced_pattern_drives_the_bridge_as_it_does_the_hf_model(llama):
    hf, bridge = llama

    def flat(p):
        causal = torch.ones_like(p).tril()
        return causal / causal.sum(-1, keepdim=True)

    with hooked(hf, {"blocks.1.attn.hook_pattern": flat}):
        a = hf.forward(IDS)
    with hooked(bridge, {"blocks.1.attn.hook_pattern": flat}):
        b = bridge.forward(IDS)
    torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    assert (a - hf.forward(IDS)).abs().max() > 1e-3


def test_names_the_bridge_cannot_match_are_refused():
    hf, bridge = pair("gpt_neox")
    for kind in ("q", "k"):
        with pytest.raises(InterpError, match="rotary") as err:
            with hooked(bridge, {f"blocks.0.attn.hook_{kind}": lambda h: None}):
                pass
        assert "--backend hf" in (err.value.fix or "")
        assert f"blocks.0.attn.hook_{kind}" not in all_hook_names(bridge)
    assert "blocks.0.attn.hook_z" in all_hook_names(bridge)


def test_out_of_range_heads_and_widths_are_refused(llama):
    _, bridge = llama
    with pytest.raises(InterpError, match="out of range: .* 2 key-value heads"):
        with hooked(bridge, {"blocks.0.attn.hook_k[2]": lambda h: None}):
            pass
    with pytest.raises(InterpError, match="width 32"):
        with steering(bridge, Steer("blocks.1.attn.hook_z[3]", "add", torch.ones(32))):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_head_points_on_the_real_models_bridge_equal_the_hf_backends(name, request):
    """SmolLM2 (grouped-query Llama) and Gemma-3-270M (q/k norms, one kv head) at their first,
    middle and last layers, on a real prompt."""
    model = request.getfixturevalue(name)
    bridge = with_backend(model, "bridge")
    ids = torch.tensor([model.tokenizer("The capital of France is Paris, and of Italy").input_ids])
    layers = (0, model.n_layers // 2, model.n_layers - 1)
    names = [f"blocks.{layer}.attn.hook_{kind}" for layer in layers for kind in HEAD_KINDS]
    hf_rows, bridge_rows = read(model, names, ids), read(bridge, names, ids)
    for hook in names:
        torch.testing.assert_close(bridge_rows[hook], hf_rows[hook], atol=1e-4, rtol=0)
