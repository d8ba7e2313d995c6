"""Hook placements on many decoder-only families, each proved by what its blocks compute.

Tiny random models are built from each family's transformers config. On the default (hf) backend:
resid_post(l) = hidden_states[l + 1] (the last entry is after the final norm), resid_pre(l) =
resid_post(l - 1), and resid_pre + attn_out + mlp_out = resid_post (resid_mid = resid_pre + attn_out
where the block has one). Kinds a family lacks are refused with the kinds it has. Where
TransformerLens bridges the family, both backends read the same activations.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import torch
from torch import nn

from interp.capture.run import capture
from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.hooks.names import HOOK_KINDS, all_hook_names, expand_hooks
from interp.models.architectures import (
    attention_implementation,
    find_blocks,
    get_path,
    layout_for,
    plan_for,
)
from interp.models.families import LLAMA_LIKE, PARALLEL, UNREAD
from interp.models.load import with_backend
from interp.models.model import Model
from interp.models.tiny import tiny_family_model

IDS = torch.tensor([[1, 10, 11, 12, 13, 14, 15], [1, 20, 21, 22, 23, 24, 25]])
ALL = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
PARALLEL_KINDS = ("resid_pre", "resid_post", "attn_out", "mlp_out")
STREAM_AND_MID = ("resid_pre", "resid_mid", "resid_post")

# case -> (model_type, config overrides, the kinds it must have)
CASES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "llama": ("llama", {}, ALL),
    "mistral": ("mistral", {}, ALL),
    "mixtral": ("mixtral", {}, ALL),
    "qwen2": ("qwen2", {}, ALL),
    "qwen3": ("qwen3", {}, ALL),
    "qwen3_moe": ("qwen3_moe", {}, ALL),
    "gemma": ("gemma", {}, ALL),
    "gemma2": ("gemma2", {}, ALL),
    "gemma3_text": ("gemma3_text", {}, ALL),
    "phi3": ("phi3", {}, ALL),
    "olmo": ("olmo", {}, ALL),
    "olmo2": ("olmo2", {}, ALL),
    "olmo3": ("olmo3", {}, ALL),
    "starcoder2": ("starcoder2", {}, ALL),
    # A power-of-two multiplier keeps read * scale and r / scale exact.
    "granite": ("granite", {"residual_multiplier": 0.25}, ALL),
    "granitemoe": ("granitemoe", {"residual_multiplier": 0.25}, ALL),
    "hyperclovax": ("hyperclovax", {"residual_multiplier": 0.5}, ALL),
    "glm4": ("glm4", {}, ALL),
    "vaultgemma": ("vaultgemma", {}, ALL),
    "nemotron": ("nemotron", {}, ALL),
    "gpt2": ("gpt2", {}, ALL),
    "gpt_neo": ("gpt_neo", {}, ALL),
    "biogpt": ("biogpt", {}, ALL),
    "stablelm-sequential": ("stablelm", {"use_parallel_residual": False}, ALL),
    "stablelm-parallel": ("stablelm", {"use_parallel_residual": True}, PARALLEL_KINDS),
    "gpt_neox-parallel": ("gpt_neox", {}, PARALLEL_KINDS),
    "gpt_neox-sequential": ("gpt_neox", {"use_parallel_residual": False}, ALL),
    "phi": ("phi", {}, PARALLEL_KINDS),
    "gptj": ("gptj", {}, PARALLEL_KINDS),
    "codegen": ("codegen", {}, PARALLEL_KINDS),
    "cohere": ("cohere", {}, PARALLEL_KINDS),
    "falcon-parallel": ("falcon", {}, PARALLEL_KINDS),
    "falcon-new-arch": (
        "falcon",
        {"new_decoder_architecture": True, "num_kv_heads": 2},
        PARALLEL_KINDS,
    ),
    "falcon-sequential": ("falcon", {"parallel_attn": False}, ALL),
    "bloom": ("bloom", {}, STREAM_AND_MID),
    "mpt": ("mpt", {}, ("resid_pre", "resid_mid", "resid_post", "attn_out")),
    "opt": ("opt", {}, ("resid_pre", "resid_post", "attn_out")),
}
# Cases TransformerLens 4.3's bridge cannot run, and why (every other case is bridged).
NOT_BRIDGED = {
    "hyperclovax": "TransformerLens 4.3 has no hyperclovax adapter",
    "biogpt": "TransformerLens 4.3 has no biogpt adapter",
    "codegen": "TransformerLens 4.3's codegen adapter fails on transformers 5 (no embed_positions)",
    "falcon-new-arch": "TransformerLens 4.3's falcon adapter splits the fused QKV of "
    "new_decoder_architecture with grouped KV heads wrongly",
}
# Kinds the bridge lists for a family but never fires (its Granite blocks do not call them).
BRIDGE_SILENT = {"granite": ("attn_out", "mlp_out"), "granitemoe": ("attn_out", "mlp_out")}


@cache
def built(case: str) -> Model:
    model_type, overrides, _ = CASES[case]
    hf, tokenizer = tiny_family_model(model_type, **overrides)
    return Model(hf=hf, tokenizer=tokenizer, spec=f"tiny-{case}")


def read(model: Model, kinds: tuple[str, ...], keep_references: bool = False) -> dict[str, Any]:
    """Every layer's activation of each kind for IDS. With keep_references the tensors are kept as
    the hooks saw them, uncopied, as a careless hook function would."""
    seen: dict[str, Any] = {}

    def saver(name: str):
        return lambda h: seen.__setitem__(name, h if keep_references else h.detach().clone())

    points = [p for kind in kinds for p in expand_hooks(kind, model.n_layers)]
    with hooked(model, [(p.name, saver(p.name)) for p in points]):
        model.forward(IDS)
    return seen


def close(actual: torch.Tensor, expected: torch.Tensor, msg: str = "") -> None:
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=msg)


@pytest.mark.parametrize("case", CASES)
def test_resid_post_is_the_next_hidden_state(case):
    model = built(case)
    seen = read(model, ("resid_pre", "resid_post"))
    with torch.no_grad():
        hidden = model.hf(IDS, output_hidden_states=True).hidden_states
    final_norm = layout_for(model.hf).final_norm
    assert final_norm is not None
    last = model.n_layers - 1
    for layer in range(model.n_layers):
        post = seen[f"blocks.{layer}.hook_resid_post"]
        if layer == last:  # transformers' last hidden state is taken after the final norm
            with torch.no_grad():
                post = get_path(model.hf, final_norm)(post)
        close(post, hidden[layer + 1], f"layer {layer}")
        if layer > 0:
            assert torch.equal(
                seen[f"blocks.{layer}.hook_resid_pre"], seen[f"blocks.{layer - 1}.hook_resid_post"]
            )
    close(seen["blocks.0.hook_resid_pre"], hidden[0])


@pytest.mark.parametrize("case", CASES)
def test_block_adds_attn_out_and_mlp_out(case):
    model = built(case)
    kinds = CASES[case][2]
    assert layout_for(model.hf).kinds() == kinds
    expected = [f"blocks.{i}.hook_{k}" for i in range(model.n_layers) for k in kinds]
    assert [n for n in all_hook_names(model) if ".attn." not in n] == expected
    # No copies: a tensor the block edits in place afterwards (Falcon's MLP output) must not move.
    seen = read(model, kinds, keep_references=True)
    for layer in range(model.n_layers):
        at = {kind: seen.get(f"blocks.{layer}.hook_{kind}") for kind in ALL}
        if at["attn_out"] is not None:
            assert at["attn_out"].norm() > 0
        if at["attn_out"] is not None and at["mlp_out"] is not None:
            assert at["mlp_out"].norm() > 0
            close(
                at["resid_pre"] + at["attn_out"] + at["mlp_out"], at["resid_post"], f"layer {layer}"
            )
        if at["resid_mid"] is not None and at["attn_out"] is not None:
            close(at["resid_pre"] + at["attn_out"], at["resid_mid"], f"mid, layer {layer}")


@pytest.mark.parametrize("case", [c for c, (_, _, kinds) in CASES.items() if kinds != ALL])
def test_missing_kinds_are_refused_with_the_kinds_that_exist(case):
    model = built(case)
    kinds = CASES[case][2]
    for kind in set(HOOK_KINDS) - set(kinds):
        name = f"blocks.1.hook_{kind}"
        with pytest.raises(InterpError) as err:
            with hooked(model, {name: lambda h: None}):
                pass
        message = str(err.value)
        assert f"{model.architecture} " in message and f"no {name};" in message
        assert f"this model has {', '.join(kinds)}" in message
        if kind == "resid_mid" and "attn_out" in kinds and "mlp_out" in kinds:
            assert PARALLEL in message
        assert name not in all_hook_names(model)


@pytest.mark.parametrize("case", CASES)
def test_adding_a_vector_moves_the_stream_by_exactly_that_vector(case):
    model = built(case)
    kinds = CASES[case][2]
    clean = read(model, kinds)
    before = count_hooks(model.hf)
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    # What attn_out adds shows up unchanged in resid_mid, or in resid_post of a parallel block
    # (in a sequential one the MLP reacts to it first).
    parallel = layout_for(model.hf).why_missing("resid_mid") == PARALLEL
    attn_downstream = "resid_mid" if "resid_mid" in kinds else "resid_post" if parallel else None
    checks = [("mlp_out", "resid_post"), ("attn_out", attn_downstream)]
    for site, downstream in checks:
        if site not in kinds or downstream is None:
            continue
        with hooked(model, {f"blocks.1.hook_{site}": lambda h: h + v}):
            steered = read(model, (downstream,))
        moved = steered[f"blocks.1.hook_{downstream}"] - clean[f"blocks.1.hook_{downstream}"]
        close(moved, v.expand_as(moved), f"{site} -> {downstream}")
    assert count_hooks(model.hf) == before
    assert torch.equal(
        read(model, ("resid_post",))["blocks.2.hook_resid_post"], clean["blocks.2.hook_resid_post"]
    )


@pytest.mark.parametrize("case", ["falcon-parallel", "granite", "gemma2", "olmo2"])
def test_capture_reads_what_the_block_adds(case):
    model = built(case)
    got = capture(
        model,
        ["hello there", "a b c d e"],
        hooks=["resid_pre", "attn_out", "mlp_out", "resid_post"],
        positions="last",
        progress=False,
    ).activations
    for layer in range(model.n_layers):
        at = {kind: got[f"blocks.{layer}.hook_{kind}"] for kind in PARALLEL_KINDS}
        close(at["resid_pre"] + at["attn_out"] + at["mlp_out"], at["resid_post"])


@pytest.mark.parametrize("case", CASES)
def test_backends_agree(case):
    if case in NOT_BRIDGED:
        pytest.skip(NOT_BRIDGED[case])
    hf = built(case)
    bridge = with_backend(hf, "bridge")
    kinds = tuple(k for k in CASES[case][2] if k not in BRIDGE_SILENT.get(case, ()))
    a, b = read(hf, kinds), read(bridge, kinds)
    assert a.keys() == b.keys()
    for name in a:
        close(a[name], b[name], name)
    close(hf.forward(IDS), bridge.forward(IDS))


def test_unknown_family_borrows_the_plan_of_the_same_block_code():
    # ernie4_5 is not in the table; its decoder layer runs Llama's forward, line for line.
    hf, _ = tiny_family_model("ernie4_5")
    block = get_path(hf, find_blocks(hf))[0]
    assert plan_for("ernie4_5", block) == LLAMA_LIKE
    # A family whose block is its own (doge scales its residual by a learned vector) keeps only the
    # stream, and says why.
    model = Model(*tiny_family_model("doge"), spec="tiny-doge")
    assert [n for n in all_hook_names(model) if ".attn." not in n] == [
        f"blocks.{i}.hook_{k}" for i in range(3) for k in ("resid_pre", "resid_post")
    ]
    with pytest.raises(InterpError, match=f"doge {UNREAD}, so it has no blocks.0.hook_attn_out"):
        with hooked(model, {"blocks.0.hook_attn_out": lambda h: None}):
            pass


def test_unknown_parallel_family_says_it_is_parallel():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.Linear(4, 4)

        def forward(self, x):
            return x + self.attn(x) + self.attn(x).relu()

    config = type("Config", (), {"parallel_attn": True})()
    plan = plan_for("brand-new", Block(), config)
    assert plan.placements == {} and plan.missing == {
        "resid_mid": PARALLEL,
        "attn_out": UNREAD,
        "mlp_out": UNREAD,
    }
    assert plan_for("brand-new", Block()).missing["resid_mid"] == UNREAD


def test_blocks_are_the_shallowest_list_of_layer_count():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.experts = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))

    class Model_(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = type("Config", (), {"num_hidden_layers": 2})()
            self.early = nn.Module()
            self.early.deep = nn.Module()
            self.early.deep.experts = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))
            self.decoder = nn.ModuleList(Block() for _ in range(2))

    assert find_blocks(Model_()) == "decoder"


def test_attention_implementation_is_sdpa_only_where_supported():
    assert attention_implementation(built("llama").config) == "sdpa"
    assert attention_implementation(built("gemma2").config) == "eager"  # softcapping: no SDPA
    assert built("gemma2").config._attn_implementation == "eager"
    assert attention_implementation(object()) == "eager"


def test_tiny_family_model_refuses_unknown_types():
    with pytest.raises(InterpError, match="no config for model type 'nope'"):
        tiny_family_model("nope")


def test_a_family_without_a_block_list_is_refused():
    model = Model(*tiny_family_model("xlm"), spec="tiny-xlm")
    with pytest.raises(InterpError, match="xlm keeps its attention, norm and feed-forward"):
        with hooked(model, {"blocks.0.hook_resid_post": lambda h: None}):
            pass
