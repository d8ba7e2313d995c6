"""Hook points resolve to the right activations on every architecture and both backends."""

from __future__ import annotations

import pytest
import torch

from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.hooks.names import HookPoint, all_hook_names, expand_hooks, parse_hook
from interp.models.architectures import get_path, layout_for
from interp.models.load import load_model, with_backend
from interp.models.tiny import TINY_ARCHITECTURES

IDS = torch.tensor([[1, 10, 11, 12, 13, 14, 15], [1, 20, 21, 22, 23, 24, 25]])


def read_all(model, kinds=("resid_pre", "resid_post")):
    seen = {}
    points = [p for k in kinds for p in expand_hooks(k, model.n_layers)]
    fns = [
        (p.name, (lambda name: lambda h: seen.__setitem__(name, h.detach().clone()))(p.name))
        for p in points
    ]
    with hooked(model, fns):
        model.forward(IDS)
    return seen


@pytest.mark.parametrize("arch", TINY_ARCHITECTURES)
@pytest.mark.parametrize("backend", ["hf", "bridge"])
def test_resid_post_matches_hidden_states(tiny_dirs, arch, backend):
    model = load_model(tiny_dirs[arch], backend=backend)
    seen = read_all(model)
    with torch.no_grad():
        hidden = model.hf(IDS, output_hidden_states=True).hidden_states
    final_norm = get_path(model.hf, layout_for(model.hf).final_norm)
    for layer in range(model.n_layers):
        post = seen[f"blocks.{layer}.hook_resid_post"]
        # The last entry of hidden_states is taken after the final norm.
        expected = hidden[layer + 1] if layer < model.n_layers - 1 else None
        if expected is None:
            with torch.no_grad():
                post = final_norm(post)
            expected = hidden[layer + 1]
        torch.testing.assert_close(post, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(
            seen[f"blocks.{layer}.hook_resid_pre"], hidden[layer], atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("arch", TINY_ARCHITECTURES)
def test_backends_agree_at_every_hook(tiny_dirs, arch):
    hf = load_model(tiny_dirs[arch])
    bridge = with_backend(hf, "bridge")
    kinds = ("resid_pre", "resid_post", "attn_out", "mlp_out") + (
        ("resid_mid",) if arch != "gpt_neox" else ()
    )
    a, b = read_all(hf, kinds), read_all(bridge, kinds)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=0, msg=name)
    torch.testing.assert_close(hf.forward(IDS), bridge.forward(IDS), atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_resid_mid_is_pre_plus_attention(tiny_dirs, arch):
    model = load_model(tiny_dirs[arch])
    seen = read_all(model, ("resid_pre", "attn_out", "resid_mid"))
    for layer in range(model.n_layers):
        torch.testing.assert_close(
            seen[f"blocks.{layer}.hook_resid_mid"],
            seen[f"blocks.{layer}.hook_resid_pre"] + seen[f"blocks.{layer}.hook_attn_out"],
            atol=1e-5,
            rtol=0,
        )


def test_parallel_residual_has_no_resid_mid(tiny_dirs):
    model = load_model(tiny_dirs["gpt_neox"])
    with pytest.raises(InterpError, match="parallel"):
        with hooked(model, {"blocks.0.hook_resid_mid": lambda h: None}):
            pass
    assert "blocks.0.hook_resid_mid" not in all_hook_names(model)


def test_names_parse_and_refuse():
    assert parse_hook("blocks.-1.hook_resid_post", 5) == HookPoint(4, "resid_post")
    assert [p.layer for p in expand_hooks("blocks.*.hook_mlp_out", 3)] == [0, 1, 2]
    assert expand_hooks("resid_post,blocks.0.hook_resid_post", 2) == [
        HookPoint(0, "resid_post"),
        HookPoint(1, "resid_post"),
    ]
    with pytest.raises(InterpError, match="resid_pre, resid_mid") as err:
        parse_hook("blocks.0.hook_resid_psot", 5)
    assert "\n" not in str(err.value)
    with pytest.raises(InterpError, match="out of range"):
        parse_hook("blocks.5.hook_resid_post", 5)
    with pytest.raises(InterpError, match="out of range"):
        parse_hook("blocks.-6.hook_resid_post", 5)


@pytest.mark.parametrize("backend", ["hf", "bridge"])
def test_hooks_removed_even_when_forward_raises(tiny_dirs, backend):
    model = load_model(tiny_dirs["llama"], backend=backend)
    before = model.forward(IDS)  # the bridge wires its own permanent hooks on the first forward
    before_hooks = count_hooks(model.runner)

    def explode(h):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with hooked(
            model, {"blocks.1.hook_resid_post": explode, "blocks.0.hook_resid_pre": lambda h: h * 2}
        ):
            model.forward(IDS)
    assert count_hooks(model.runner) == before_hooks
    assert torch.equal(model.forward(IDS), before)


def test_replacing_an_activation_changes_only_downstream(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    clean = read_all(model)
    seen = {}
    with hooked(
        model,
        [
            ("blocks.1.hook_resid_pre", lambda h: h + 1.0),
            ("blocks.0.hook_resid_post", lambda h: seen.__setitem__("post0", h.clone())),
            ("blocks.1.hook_resid_post", lambda h: seen.__setitem__("post1", h.clone())),
        ],
    ):
        model.forward(IDS)
    assert torch.equal(seen["post0"], clean["blocks.0.hook_resid_post"])
    assert not torch.allclose(seen["post1"], clean["blocks.1.hook_resid_post"])
