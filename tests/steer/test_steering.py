"""Steering plumbing: exact at hooked positions, untouched elsewhere, reversible, cache-consistent."""

from __future__ import annotations

import pytest
import torch

from interp.errors import InterpError
from interp.hooks.context import count_hooks, hooked
from interp.models.generate import generate
from interp.models.load import load_model
from interp.models.passes import StepMasks
from interp.steer.steering import Steer, apply_operator, orthonormal_basis, steering

HOOK = "blocks.1.hook_resid_post"
PROMPTS = ["the cat sat on", "a dog", "once upon a time there"]


@pytest.fixture(scope="module")
def model(tiny_dirs):
    return load_model(tiny_dirs["llama"])


def direction(d: int, seed: int = 0, k: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((k, d) if k else (d,), generator=g)


def record(model, ids, mask, hook=HOOK):
    seen = {}
    with hooked(model, {hook: lambda h: seen.__setitem__("h", h.detach().clone())}):
        logits = model.forward(ids, mask)
    return seen["h"], logits


def batch(model):
    enc = model.tokenizer(PROMPTS, padding=True, return_tensors="pt", padding_side="left")
    return enc.input_ids, enc.attention_mask


@pytest.mark.parametrize(
    "make",
    [
        lambda d: Steer(HOOK, "add", direction(d), alpha=3.0, positions="all"),
        lambda d: Steer(HOOK, "rotate", direction(d), alpha=0.5, positions="last"),
        lambda d: Steer(HOOK, "ablate", direction(d, k=2), positions="prompt"),
        lambda d: Steer(
            HOOK,
            "clamp",
            direction(d, k=3),
            values=torch.tensor([1.0, -2.0, 0.5]),
            positions="last",
        ),
    ],
    ids=["add", "rotate", "ablate", "clamp"],
)
def test_hooked_positions_get_exactly_the_operator(model, make):
    steer = make(model.d_model)
    ids, mask = batch(model)
    clean, clean_logits = record(model, ids, mask)
    hooks_before = count_hooks(model.hf)
    with steering(model, steer):
        steered, _ = record(model, ids, mask)
    select = steer.select(StepMasks.for_prompts(mask))
    expected = apply_operator(clean, select, steer)
    assert torch.equal(steered, expected)
    assert torch.equal(steered[~select], clean[~select])
    assert not torch.equal(steered[select], clean[select])
    # Removed on exit: no hooks, outputs bit-identical to before.
    assert count_hooks(model.hf) == hooks_before
    assert torch.equal(record(model, ids, mask)[1], clean_logits)


def test_operator_math(model):
    d = model.d_model
    h = torch.randn(2, 5, d)
    everywhere = torch.ones(2, 5, dtype=torch.bool)
    v = direction(d)
    added = apply_operator(h, everywhere, Steer(HOOK, "add", v, alpha=2.0))
    torch.testing.assert_close(added, h + 2.0 * v, atol=1e-5, rtol=1e-5)
    rotated = apply_operator(h, everywhere, Steer(HOOK, "rotate", v, alpha=0.3))
    u = h / h.norm(dim=-1, keepdim=True) + 0.3 * v / v.norm()
    torch.testing.assert_close(
        rotated,
        h.norm(dim=-1, keepdim=True) * u / u.norm(dim=-1, keepdim=True),
        atol=1e-5,
        rtol=1e-5,
    )
    torch.testing.assert_close(rotated.norm(dim=-1), h.norm(dim=-1), atol=1e-4, rtol=1e-5)
    directions = direction(d, k=3)
    basis = orthonormal_basis(directions)
    ablated = apply_operator(h, everywhere, Steer(HOOK, "ablate", directions))
    assert (ablated @ basis).abs().max() < 1e-4
    values = torch.tensor([0.5, -1.0, 2.0])
    clamped = apply_operator(h, everywhere, Steer(HOOK, "clamp", directions, values=values))
    torch.testing.assert_close(clamped @ basis, values.expand(2, 5, 3), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "positions, phase", [("last", "prefill"), ("generated", "decode"), ("all", "both")]
)
def test_cached_generation_equals_recomputed(model, positions, phase):
    steer = Steer(
        HOOK, "add", direction(model.d_model, seed=1), alpha=6.0, positions=positions, phase=phase
    )
    with steering(model, steer):
        cached = generate(model, PROMPTS, max_new_tokens=8, stop_at_eos=False)
        recomputed = generate(model, PROMPTS, max_new_tokens=8, stop_at_eos=False, use_cache=False)
    plain = generate(model, PROMPTS, max_new_tokens=8, stop_at_eos=False)
    assert [g.token_ids for g in cached] == [g.token_ids for g in recomputed]
    assert [g.token_ids for g in cached] != [g.token_ids for g in plain]


def test_batched_equals_unbatched(model):
    steer = Steer(
        HOOK,
        "rotate",
        direction(model.d_model, seed=2),
        alpha=0.8,
        positions="last",
        phase="prefill",
    )
    with steering(model, steer):
        batched = generate(model, PROMPTS, max_new_tokens=6, stop_at_eos=False)
        alone = [generate(model, p, max_new_tokens=6, stop_at_eos=False)[0] for p in PROMPTS]
    assert [g.token_ids for g in batched] == [g.token_ids for g in alone]


def test_several_steers_at_once_and_removal_after_error(model):
    ids, mask = batch(model)
    _, before = record(model, ids, mask)
    hooks_before = count_hooks(model.hf)
    steers = [
        Steer("blocks.0.hook_resid_post", "add", direction(model.d_model, 3), alpha=1.0),
        Steer("blocks.2.hook_resid_pre", "ablate", direction(model.d_model, 4)),
    ]
    with pytest.raises(RuntimeError):
        with steering(model, steers):
            raise RuntimeError("inside")
    assert count_hooks(model.hf) == hooks_before
    assert torch.equal(record(model, ids, mask)[1], before)


def test_bad_steering_input(model):
    with pytest.raises(InterpError, match="width"):
        with steering(model, Steer(HOOK, "add", torch.ones(model.d_model + 1))):
            pass
    with pytest.raises(InterpError, match="not a number"):
        Steer(HOOK, "add", torch.ones(4), alpha="big")  # type: ignore[arg-type]
    with pytest.raises(InterpError, match="not a number"):
        Steer(HOOK, "add", torch.ones(4), alpha=float("nan"))
    with pytest.raises(InterpError, match="unknown steering operator"):
        Steer(HOOK, "push", torch.ones(4))  # type: ignore[arg-type]
    with pytest.raises(InterpError, match="zero"):
        Steer(HOOK, "add", torch.zeros(4))
    with pytest.raises(InterpError, match="out of range"):
        with steering(model, Steer("blocks.9.hook_resid_post", "add", torch.ones(model.d_model))):
            pass
