"""On a real forward pass, capture and steering give the same results on the Triton and torch paths.

Without a GPU the Triton path runs in Triton's interpreter (see conftest.py), so the model is tiny.
"""

from __future__ import annotations

import pytest
import torch

from interp.kernels import use_backend

try:  # the model stack (transformers, ...); the kernels themselves need only torch and triton
    from interp.capture.items import Item
    from interp.capture.run import capture
    from interp.hooks.context import hooked
    from interp.models.model import Model
    from interp.models.tiny import tiny_model
    from interp.steer import Steer, steering
except ImportError as err:  # e.g. a GPU image with torch and triton only
    pytest.skip(f"the model stack does not import here: {err}", allow_module_level=True)

PROMPTS = [Item("a cat", label="x"), Item("the dog ran", label="y"), Item("hi", label="x")]


@pytest.fixture(scope="module")
def model() -> Model:
    hf, tokenizer = tiny_model("llama", d_model=32, n_layers=2, n_heads=4, seed=3)
    return Model(hf=hf, tokenizer=tokenizer, spec="tiny")


def test_capture_reducers_agree(model):
    results = {}
    for backend in ("reference", "triton"):
        with use_backend(backend):
            results[backend] = capture(
                model,
                PROMPTS,
                "resid_post",
                positions="all",
                reduce=["label_mean", "mean"],
                progress=False,
            )
    ref, tri = results["reference"], results["triton"]
    for hook in ref.hooks:
        torch.testing.assert_close(
            tri.label_means[hook].means, ref.label_means[hook].means, atol=1e-5, rtol=1e-5
        )
        assert torch.equal(tri.label_means[hook].counts, ref.label_means[hook].counts)
        torch.testing.assert_close(tri.means[hook], ref.means[hook], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("operator", ["add", "rotate", "ablate"])
def test_steered_forward_agrees(model, operator):
    v = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    steer = Steer("blocks.0.hook_resid_post", operator, v, alpha=0.7, positions="prompt")
    ids = torch.tensor([[1, 10, 11, 12, 13], [0, 0, 1, 20, 21]])
    mask = (torch.arange(5) >= torch.tensor([[0], [2]])).long()
    out = {}
    for backend in ("reference", "triton"):
        seen = {}
        with (
            use_backend(backend),
            steering(model, steer),
            hooked(
                model,
                {"blocks.0.hook_resid_post": lambda h, seen=seen: seen.setdefault("h", h.clone())},
            ),
        ):
            out[backend] = (model.forward(ids, mask), seen["h"])
    torch.testing.assert_close(out["triton"][1], out["reference"][1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["triton"][0], out["reference"][0], atol=1e-4, rtol=1e-4)
