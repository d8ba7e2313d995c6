"""Steering's hooks never make the host wait for the device, and write only the rows they steer.

The host-waiting ops (read-backs, data-dependent sizes, host-to-device copies) are counted at the
dispatcher (`tests/host_syncs.py`), so a CPU run proves what a GPU run would do: a hook that
synced would stall every decode step and could not be captured in a CUDA graph.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from host_syncs import counting_host_syncs

from interp.models.generate import generate
from interp.models.load import load_model
from interp.models.passes import StepMasks, step
from interp.steer.steering import PreparedSteer, Steer, apply_operator, steering

# The module itself (`interp.steer.steering` is also the name of its context manager).
steering_module = importlib.import_module("interp.steer.steering")

HOOK = "blocks.1.hook_resid_post"
PROMPTS = ["the cat sat on", "a dog", "once upon a time there"]


@pytest.fixture(scope="module")
def model(tiny_dirs):
    return load_model(tiny_dirs["llama"])


def steers(d: int) -> list[Steer]:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(4, d, generator=g)
    return [
        Steer("blocks.0.hook_resid_post", "add", v[0], alpha=3.0, positions="all", phase="both"),
        Steer(HOOK, "rotate", v[1], alpha=0.5, positions="last", phase="prefill"),
        Steer("blocks.2.hook_resid_pre", "ablate", v[:2], positions="generated", phase="decode"),
        Steer(HOOK, "clamp", v[2:], values=torch.tensor([1.0, -2.0]), positions="prompt"),
    ]


def test_the_counter_sees_a_sync():
    """The control: the counter finds what the old hooks did (`bool(select.any())`, a boolean
    index, a tensor from host data), so a zero below means something."""
    x = torch.randn(3, 4)
    with counting_host_syncs() as counter:
        bool((x > 0).any())
        x[x > 0]
        torch.tensor([1.0])
    assert counter.total >= 3, counter.counts


def test_steered_generation_has_no_host_sync_in_the_hooks(model, monkeypatch):
    """Every steering hook call, at prefill and at every decode step, with all four operators:
    zero host-waiting ops, and the same tokens as the out-of-place path of before."""
    calls = []
    call = steering_module._SteerHook.__call__

    def counted(self, h):
        with counting_host_syncs() as counter:
            out = call(self, h)
        calls.append((self.steer.operator, counter.total, dict(counter.counts)))
        return out

    with steering(model, steers(model.d_model)):  # the first pass prepares the operands
        generate(model, PROMPTS[0], max_new_tokens=1, stop_at_eos=False)
        monkeypatch.setattr(steering_module._SteerHook, "__call__", counted)
        fast = generate(model, PROMPTS, max_new_tokens=5, stop_at_eos=False)
    monkeypatch.undo()
    assert len(calls) == 4 * 5  # four hooks, one prefill pass and four decode steps
    assert {op for op, _, _ in calls} == {"add", "rotate", "ablate", "clamp"}
    assert all(total == 0 for _, total, _ in calls), [c for c in calls if c[1]]

    # The same generation with every hook out of place, operands remade per call (as before).
    def out_of_place(self, h):
        return apply_operator(h, self.steer.select(steering_module.current_step(h)), self.steer)

    monkeypatch.setattr(steering_module._SteerHook, "__call__", out_of_place)
    with steering(model, steers(model.d_model)):
        slow = generate(model, PROMPTS, max_new_tokens=5, stop_at_eos=False)
    assert [g.token_ids for g in fast] == [g.token_ids for g in slow]
    plain = generate(model, PROMPTS, max_new_tokens=5, stop_at_eos=False)
    assert [g.token_ids for g in fast] != [g.token_ids for g in plain]  # the steers do act


@pytest.mark.parametrize("operator", ["add", "rotate", "ablate", "clamp"])
def test_in_place_update_writes_only_the_selected_rows(operator):
    """In place: the same tensor comes back, selected rows equal the out-of-place result within
    rounding, every other row keeps its exact bits; the operands are made once, not per call."""
    d = 32
    g = torch.Generator().manual_seed(1)
    vectors = torch.randn(d, generator=g) if operator in ("add", "rotate") else torch.randn(2, d)
    values = torch.tensor([0.5, -1.0]) if operator == "clamp" else None
    steer = Steer(HOOK, operator, vectors, alpha=0.7, values=values)
    prepared = PreparedSteer.make(steer, "cpu")
    h = torch.randn(3, 6, d, generator=g)
    select = torch.zeros(3, 6, dtype=torch.bool)
    select[:, -1] = True  # the last token of each row, as at a prefill with positions="last"
    want = apply_operator(h.clone(), select, steer)
    target = h.clone()
    with counting_host_syncs() as counter:
        got = prepared.apply(target, select, inplace=True)
    assert counter.total == 0, counter.counts
    assert got is target
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    assert torch.equal(got[~select], h[~select])
    assert not torch.equal(got[select], h[select])


def test_hook_writes_in_place_only_where_safe(model):
    """The hook overwrites plain activations but copies ones autograd needs, so gradients
    through a steered forward stay right."""
    steer = Steer(HOOK, "add", torch.ones(model.d_model), alpha=1.0)
    hook = steering_module._SteerHook(steer)
    masks = StepMasks.for_prompts(torch.ones(2, 3, dtype=torch.bool))
    with step(masks), torch.no_grad():
        h = torch.zeros(2, 3, model.d_model)
        assert hook(h) is h and torch.equal(h, torch.ones_like(h))
    leaf = torch.zeros(2, 3, model.d_model, requires_grad=True)
    with step(masks):
        out = hook(leaf * 1.0)
    out.sum().backward()
    assert leaf.grad is not None and torch.equal(leaf.grad, torch.ones_like(leaf))
    assert len(hook.prepared) == 1  # one device, prepared once for both calls
