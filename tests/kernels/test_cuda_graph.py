"""A steered decode step captures into a CUDA graph (GPU only): the steering hooks make no host
sync and allocate nothing per call, so the graph replays them and matches eager steering.

`tests/steer/test_host_syncs.py` shows the same on the CPU by counting host-waiting ops; this is
the check that only a GPU can make. `scripts/gpu_check.sh` runs it.
"""

from __future__ import annotations

import importlib

import pytest
import torch

pytestmark = pytest.mark.gpu

pytest.importorskip("jaxtyping", reason="interp's steering needs jaxtyping")

from interp.models.passes import StepMasks, step  # noqa: E402
from interp.steer.steering import Steer, apply_operator  # noqa: E402

steering_module = importlib.import_module("interp.steer.steering")

B, D = 8, 4096  # a decode step: one new token in each of 8 sequences
HOOK = "blocks.0.hook_resid_post"


def steers(device: torch.device) -> list[Steer]:
    g = torch.Generator().manual_seed(0)
    v = torch.randn(20, D, generator=g)
    return [
        Steer(HOOK, "add", v[0], alpha=2.0, positions="generated", phase="decode"),
        Steer(HOOK, "rotate", v[1], alpha=0.3, positions="all", phase="both"),
        Steer(HOOK, "ablate", v[2:10], positions="generated", phase="both"),
        Steer(HOOK, "clamp", v[10:14], values=torch.arange(4.0), positions="all"),
        Steer(HOOK, "add", v[14], alpha=5.0, positions="last", phase="prefill"),  # selects none
    ]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_steering_hooks_replay_in_a_cuda_graph(cuda, dtype):
    masks = StepMasks.for_decode(B, cuda)
    hooks = [steering_module._SteerHook(s) for s in steers(cuda)]
    static = torch.zeros(B, 1, D, device=cuda, dtype=dtype)

    def decode_step(h: torch.Tensor) -> torch.Tensor:
        with step(masks):
            for hook in hooks:
                h = hook(h)
        return h

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.no_grad():  # warm up: operands prepared, kernels built
        decode_step(torch.randn(B, 1, D, device=cuda, dtype=dtype))
    torch.cuda.current_stream().wait_stream(stream)

    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        out = decode_step(static)
    assert out.data_ptr() == static.data_ptr()  # every hook updated the activation in place

    for seed in (1, 2):
        fresh = torch.randn(B, 1, D, generator=torch.Generator().manual_seed(seed))
        fresh = fresh.to(cuda, dtype)
        static.copy_(fresh)
        graph.replay()
        torch.cuda.synchronize()
        want = fresh.clone()
        for s in steers(cuda):  # eager and out of place, operands remade on every call
            want = apply_operator(want, s.select(masks), s)
        atol = 1e-4 if dtype == torch.float32 else 0.1
        torch.testing.assert_close(out, want, atol=atol, rtol=2e-2)
        assert not torch.equal(out, fresh)


def test_steered_model_decode_step_replays_in_a_cuda_graph(cuda, tmp_path):
    """A tiny model's whole forward for one decode step, steered, in a graph. The control: the
    unsteered forward must capture first (some model code reads values back to the host); if it
    cannot, steering is not what stops the graph and the test says so."""
    pytest.importorskip("transformers")
    from interp.models.load import load_model
    from interp.models.tiny import save_tiny_model
    from interp.steer.steering import steering

    model = load_model(save_tiny_model(tmp_path / "llama"), device=cuda, dtype=torch.float32)
    ids = torch.randint(3, 50, (B, 6), device=cuda)
    masks = StepMasks.for_prompts(torch.ones(B, 6, dtype=torch.bool, device=cuda), 5)

    def forward() -> torch.Tensor:
        with step(masks), torch.no_grad():
            return model.hf(input_ids=ids, use_cache=False).logits

    def captured() -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            forward()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            logits = forward()
        return graph, logits

    try:
        captured()
    except RuntimeError as err:  # the control failed: not steering's doing
        pytest.skip(f"the unsteered forward of this transformers version does not capture: {err}")
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(3))
    steer = Steer("blocks.1.hook_resid_post", "add", v, alpha=4.0, positions="generated")
    with steering(model, steer):
        eager = forward().clone()
        graph, logits = captured()
        graph.replay()
        torch.cuda.synchronize()
    torch.testing.assert_close(logits, eager, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(eager, forward(), atol=1e-3)  # the steer acts
