"""Head-level hook points (blocks.{l}.attn.hook_q/k/v/z/pattern) on tiny models of several families:
the pattern is the model's own eager attention probabilities, z through the output projection is
attn_out, q and k give back the pattern, and capture, steering and probes take them."""

from __future__ import annotations

import pytest
import torch

from interp.capture.run import capture
from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.hooks.names import HookPoint, all_hook_names, expand_hooks, parse_hook
from interp.models.architectures import get_path, layout_for
from interp.models.attention_heads import head_site
from interp.models.generate import generate
from interp.models.model import Model
from interp.models.tiny import tiny_family_model
from interp.probes.fit import fit_logistic_probe
from interp.steer import Steer, steering

# Llama (grouped-query), Qwen 3 (q/k norms), Gemma 2 (softcapping, query_pre_attn_scalar, a sliding
# window shorter than the prompt), Gemma 3, Phi-3 (fused qkv), OLMo 2 (post-norms), GPT-2, GPT-NeoX.
FAMILIES = {
    "llama": {},
    "qwen3": {},
    "gemma2": dict(sliding_window=3, query_pre_attn_scalar=16, attn_logit_softcapping=5.0),
    "gemma3_text": dict(sliding_window=3, query_pre_attn_scalar=16),
    "phi3": {},
    "olmo2": {},
    "gpt2": {},
    "gpt_neox": {},
}
NAMES = ("q", "k", "v", "z", "pattern")
PROMPTS = [[1, 5, 6, 7, 8, 9, 10, 11], [1, 20, 21, 22, 23, 24, 25, 26]]


@pytest.fixture(scope="module", params=list(FAMILIES))
def model(request) -> Model:
    hf, tokenizer = tiny_family_model(request.param, **FAMILIES[request.param])
    return Model(hf, tokenizer, f"tiny:{request.param}")


def read_heads(model: Model, ids: torch.Tensor, layer: int, kinds=NAMES) -> dict[str, torch.Tensor]:
    seen: dict[str, torch.Tensor] = {}

    def keep(kind):
        def fn(h):
            seen[kind] = h.detach().clone()

        return fn

    fns = {f"blocks.{layer}.attn.hook_{kind}": keep(kind) for kind in kinds}
    fns[f"blocks.{layer}.hook_attn_out"] = keep("attn_out")
    with hooked(model, fns):
        model.forward(ids)
    return seen


def eager_attentions(model: Model, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
    config = model.hf.config
    before = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        with torch.no_grad():
            return model.hf(input_ids=ids, output_attentions=True).attentions
    finally:
        config._attn_implementation = before


def output_projection(model: Model, layer: int):
    """z (batch, pos, head * d_head) -> what the block adds: the output projection, then the
    post-attention norm in families that normalise before adding (Gemma 2/3, OLMo 2)."""
    layout = layout_for(model.hf)
    block = get_path(model.hf, layout.blocks)[layer]
    attention = head_site(model.hf, layer, "z").module
    o_proj = next(
        getattr(attention, n) for n in ("o_proj", "c_proj", "dense") if hasattr(attention, n)
    )
    placed = layout.placement("attn_out")
    assert placed is not None
    added = get_path(block, placed.path)
    return lambda z: added(o_proj(z)) if added is not attention else o_proj(z)


def pattern_from_qk(model: Model, q, k, layer: int) -> torch.Tensor:
    """softmax(q k^T * scale, softcapped, causal and sliding-window masked), per query head."""
    site = head_site(model.hf, layer, "q")
    module, config = site.module, site.config
    k = k.repeat_interleave(site.n_heads // site.n_kv_heads, dim=2)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * module.scaling
    softcap = getattr(config, "attn_logit_softcapping", None)
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    n = q.shape[1]
    i, j = torch.arange(n)[:, None], torch.arange(n)[None]
    allowed = j <= i
    window = getattr(module, "sliding_window", None)
    if window:
        allowed &= i - j < window
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1)


def test_shapes_are_transformer_lens_and_kv_heads_are_not_expanded(model):
    ids = torch.tensor(PROMPTS)
    seen = read_heads(model, ids, 1)
    site = head_site(model.hf, 1, "q")
    b, n = ids.shape
    assert seen["q"].shape == (b, n, site.n_heads, site.d_head)
    assert seen["z"].shape == (b, n, site.n_heads, site.d_head)
    assert seen["k"].shape == seen["v"].shape == (b, n, site.n_kv_heads, site.d_head)
    assert seen["pattern"].shape == (b, site.n_heads, n, n)


def test_pattern_is_the_models_eager_attention_probabilities(model):
    ids = torch.tensor(PROMPTS)
    eager = eager_attentions(model, ids)
    for layer in range(model.n_layers):
        seen = read_heads(model, ids, layer, kinds=("pattern",))
        torch.testing.assert_close(seen["pattern"], eager[layer], rtol=0, atol=1e-6)


def test_z_of_all_heads_through_the_output_projection_is_attn_out(model):
    ids = torch.tensor(PROMPTS)
    for layer in range(model.n_layers):
        seen = read_heads(model, ids, layer, kinds=("z",))
        with torch.no_grad():
            rebuilt = output_projection(model, layer)(seen["z"].flatten(2))
        torch.testing.assert_close(rebuilt, seen["attn_out"], rtol=1e-5, atol=1e-5)


def test_q_and_k_reproduce_the_pattern(model):
    ids = torch.tensor(PROMPTS)
    for layer in range(model.n_layers):
        seen = read_heads(model, ids, layer, kinds=("q", "k", "pattern"))
        rebuilt = pattern_from_qk(model, seen["q"], seen["k"], layer)
        torch.testing.assert_close(rebuilt, seen["pattern"], rtol=1e-5, atol=1e-5)


def test_reading_heads_changes_nothing_and_leaves_nothing_behind(model):
    ids = torch.tensor(PROMPTS)
    before = model.hf.config._attn_implementation
    clean = model.forward(ids)
    seen = read_heads(model, ids, 0, kinds=("q", "k", "v", "z"))
    with hooked(model, {"blocks.0.attn.hook_z": lambda h: None}):
        assert torch.equal(model.forward(ids), clean)  # same attention function, same mask
        assert model.hf.config._attn_implementation != before
    assert model.hf.config._attn_implementation == before
    assert torch.equal(model.forward(ids), clean) and seen
    assert count_hooks(model.hf) == 0
    attention = head_site(model.hf, 0, "z").module
    assert not getattr(attention, "_interp_head_hooks", {})


def test_a_single_head_is_one_slice_and_is_written_back_alone(model):
    ids = torch.tensor(PROMPTS)
    whole = read_heads(model, ids, 1, kinds=("z", "k", "pattern"))
    seen = {}
    fns = {
        "blocks.1.attn.hook_z[2]": lambda h: seen.update(z=h.clone()),
        "blocks.1.attn.hook_k[1]": lambda h: seen.update(k=h.clone()),
        "blocks.1.attn.hook_pattern[3]": lambda h: seen.update(p=h.clone()),
    }
    with hooked(model, fns):
        model.forward(ids)
    assert torch.equal(seen["z"], whole["z"][:, :, 2])
    assert torch.equal(seen["k"], whole["k"][:, :, 1])
    assert torch.equal(seen["p"], whole["pattern"][:, 3])
    # Zeroing head 2's z changes attn_out by exactly that head's share of the output projection.
    out = {}
    with hooked(
        model,
        {
            "blocks.1.attn.hook_z[2]": lambda h: torch.zeros_like(h),
            "blocks.1.hook_attn_out": lambda h: out.update(a=h.clone()),
        },
    ):
        model.forward(ids)
    z = whole["z"].clone()
    z[:, :, 2] = 0
    with torch.no_grad():
        expected = output_projection(model, 1)(z.flatten(2))
    torch.testing.assert_close(out["a"], expected, rtol=1e-5, atol=1e-5)


def test_a_replaced_pattern_drives_the_output():
    hf, tokenizer = tiny_family_model("llama")
    model = Model(hf, tokenizer, "tiny:llama")
    ids = torch.tensor(PROMPTS)
    seen = read_heads(model, ids, 1, kinds=("v", "z"))
    uniform = {}

    def flat(p):
        causal = torch.ones_like(p).tril()
        return causal / causal.sum(-1, keepdim=True)

    with hooked(
        model,
        {"blocks.1.attn.hook_pattern": flat, "blocks.1.attn.hook_z": lambda h: uniform.update(z=h)},
    ):
        model.forward(ids)
    v = seen["v"].repeat_interleave(2, dim=2)  # 4 query heads read 2 kv heads
    expected = v.cumsum(1) / torch.arange(1, ids.shape[1] + 1)[None, :, None, None]
    torch.testing.assert_close(uniform["z"], expected, rtol=1e-5, atol=1e-6)


def test_capture_and_probe_take_head_points():
    hf, tokenizer = tiny_family_model("llama")
    model = Model(hf, tokenizer, "tiny:llama")
    prompts = [f"word {c}{c}" for c in "abcdefghijkl"]
    got = capture(model, prompts, "attn.hook_z", positions="last", progress=False)
    assert got.hooks == [f"blocks.{layer}.attn.hook_z" for layer in range(model.n_layers)]
    rows = got.activations["blocks.1.attn.hook_z"]
    one = capture(model, prompts, "blocks.1.attn.hook_z[2]", positions="last", progress=False)
    head = one.activations["blocks.1.attn.hook_z[2]"]
    assert rows.shape == (12, 4 * 8) and head.shape == (12, 8)
    torch.testing.assert_close(head, rows.view(12, 4, 8)[:, 2], rtol=0, atol=0)
    labels = torch.tensor([i % 2 for i in range(12)])
    probe = fit_logistic_probe(head, labels, model=model, hook="blocks.1.attn.hook_z[2]")
    assert probe.d_model == 8 and probe.layer == 1 and probe.hook == "blocks.1.attn.hook_z[2]"
    with pytest.raises(InterpError, match="pattern"):
        capture(model, prompts, "attn.hook_pattern", progress=False)


def test_per_head_add_and_ablate_move_attn_out_by_that_heads_share():
    hf, tokenizer = tiny_family_model("llama")
    model = Model(hf, tokenizer, "tiny:llama")
    ids = torch.tensor(PROMPTS)
    clean = read_heads(model, ids, 1, kinds=("z",))
    v = torch.randn(8, generator=torch.Generator().manual_seed(0))
    project = output_projection(model, 1)
    for steer, edit in [
        (Steer("blocks.1.attn.hook_z[3]", "add", v, alpha=2.0), lambda z: z + 2.0 * v),
        (Steer("blocks.1.attn.hook_z[3]", "ablate", torch.eye(8)), torch.zeros_like),
    ]:
        with steering(model, steer):
            steered = read_heads(model, ids, 1, kinds=("z",))
        z = clean["z"].clone()
        z[:, :, 3] = edit(z[:, :, 3])
        with torch.no_grad():
            expected = project(z.flatten(2))
        torch.testing.assert_close(steered["attn_out"], expected, rtol=1e-5, atol=1e-5)
        assert torch.equal(steered["z"][:, :, :3], clean["z"][:, :, :3])
    with pytest.raises(InterpError, match="width 64"):
        with steering(model, Steer("blocks.1.attn.hook_z[3]", "add", torch.ones(64))):
            pass
    with pytest.raises(InterpError, match="name one head"):
        with steering(model, Steer("blocks.1.attn.hook_z", "add", torch.ones(32))):
            pass


def test_head_steering_in_cached_generation_and_kv_replacement_refused():
    hf, tokenizer = tiny_family_model("llama")
    model = Model(hf, tokenizer, "tiny:llama")
    v = torch.randn(8, generator=torch.Generator().manual_seed(1))
    before = generate(model, "abc", max_new_tokens=6)[0].token_ids
    with steering(model, Steer("blocks.0.attn.hook_z[0]", "add", v, alpha=50.0)):
        steered = generate(model, "abc", max_new_tokens=6)[0].token_ids
    assert steered != before
    assert generate(model, "abc", max_new_tokens=6)[0].token_ids == before
    with pytest.raises(InterpError, match="KV cache"):
        with steering(model, Steer("blocks.0.attn.hook_v[0]", "add", v, alpha=1.0)):
            generate(model, "abc", max_new_tokens=3)
    assert count_hooks(model.hf) == 0


def test_names_parse_expand_and_list():
    assert parse_hook("blocks.-1.attn.hook_z[3]", 4) == HookPoint(3, "z", 3)
    assert parse_hook("blocks.1.attn.hook_pattern", 4).name == "blocks.1.attn.hook_pattern"
    assert [p.name for p in expand_hooks("attn.hook_q[1]", 2)] == [
        "blocks.0.attn.hook_q[1]",
        "blocks.1.attn.hook_q[1]",
    ]
    assert len(expand_hooks("blocks.*.attn.hook_v", 3)) == 3
    for bad in ("blocks.1.hook_z", "blocks.1.attn.hook_resid_post", "blocks.1.hook_resid_post[2]"):
        with pytest.raises(InterpError, match="unknown hook point"):
            parse_hook(bad, 4)
    hf, tokenizer = tiny_family_model("qwen2")
    model = Model(hf, tokenizer, "tiny:qwen2")
    names = all_hook_names(model)
    assert {f"blocks.2.attn.hook_{kind}" for kind in NAMES} <= set(names)
    with pytest.raises(InterpError, match=r"out of range: qwen2 has 2 key-value heads"):
        with hooked(model, {"blocks.0.attn.hook_k[2]": lambda h: None}):
            pass


@pytest.mark.parametrize("family", ["gpt_neo", "falcon", "bloom"])
def test_families_outside_the_attention_interface_are_named(family):
    hf, tokenizer = tiny_family_model(family)
    model = Model(hf, tokenizer, f"tiny:{family}")
    assert not any(".attn." in name for name in all_hook_names(model))
    with pytest.raises(InterpError, match=f"{family}'s attention does not go through"):
        with hooked(model, {"blocks.0.attn.hook_z": lambda h: None}):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_real_models_pattern_z_and_qk_agree_with_the_model(name, request):
    """SmolLM2 (Llama, 9 query heads on 3 kv heads) and Gemma-3-270M (query_pre_attn_scalar, local
    and global layers): the three checks at the first, a middle and the last layer."""
    real = request.getfixturevalue(name)
    ids = real.tokenizer(
        ["The capital of France is Paris, and the capital of Spain is"], return_tensors="pt"
    ).input_ids
    eager = eager_attentions(real, ids)
    for layer in (0, real.n_layers // 2, real.n_layers - 1):
        seen = read_heads(real, ids, layer)
        torch.testing.assert_close(seen["pattern"], eager[layer], rtol=0, atol=1e-5)
        rebuilt = pattern_from_qk(real, seen["q"], seen["k"], layer)
        torch.testing.assert_close(rebuilt, seen["pattern"], rtol=1e-4, atol=1e-5)
        with torch.no_grad():
            out = output_projection(real, layer)(seen["z"].flatten(2))
        torch.testing.assert_close(out, seen["attn_out"], rtol=1e-4, atol=1e-4)
    assert count_hooks(real.hf) == 0
