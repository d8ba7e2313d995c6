"""Capture reads the right rows, is padding-invariant, and its reducers agree with plain math."""

from __future__ import annotations

import json
import tracemalloc

import pytest
import torch

from interp.capture.items import Item, read_items
from interp.capture.run import capture
from interp.errors import InterpError
from interp.hooks.context import count_hooks
from interp.models.load import load_model

PROMPTS = ["the cat sat", "a much longer prompt about dogs and cats", "hi", "one two three four"]


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(tiny_dirs["llama"])


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_padding_invariance(tiny_dirs, arch, padding_side):
    model = load_model(tiny_dirs[arch])
    batched = capture(
        model,
        PROMPTS,
        "resid_post",
        positions="all",
        batch_size=4,
        padding_side=padding_side,
        progress=False,
    )
    for i, prompt in enumerate(PROMPTS):
        alone = capture(
            model, [prompt], "resid_post", positions="all", batch_size=1, progress=False
        )
        rows = batched.prompt_index == i
        for hook in batched.hooks:
            torch.testing.assert_close(
                batched.activations[hook][rows], alone.activations[hook], atol=1e-5, rtol=0
            )
        assert torch.equal(batched.position[rows], alone.position)


def test_last_position_equals_hidden_state_at_last_token(llama):
    got = capture(
        llama, PROMPTS, "blocks.-1.hook_resid_pre", positions="last", batch_size=3, progress=False
    )
    for i, prompt in enumerate(PROMPTS):
        ids = llama.tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = llama.hf(ids, output_hidden_states=True).hidden_states
        torch.testing.assert_close(
            got.activations["blocks.2.hook_resid_pre"][i], hidden[2][0, -1], atol=1e-5, rtol=0
        )


def test_response_and_mask_positions(llama):
    items = [Item("question: 2+2", response=" answer 4"), Item("q: 3+3", response=" 6")]
    got = capture(llama, items, "blocks.0.hook_resid_post", positions="response", progress=False)
    everything = capture(llama, items, "blocks.0.hook_resid_post", positions="all", progress=False)
    for i, item in enumerate(items):
        n_prompt = len(llama.tokenizer(item.prompt).input_ids)
        n_all = len(llama.tokenizer(item.prompt + item.response).input_ids)
        assert got.position[got.prompt_index == i].tolist() == list(range(n_prompt, n_all))
        rows = everything.prompt_index == i
        torch.testing.assert_close(
            got.activations["blocks.0.hook_resid_post"][got.prompt_index == i],
            everything.activations["blocks.0.hook_resid_post"][rows][n_prompt:],
            atol=1e-5,
            rtol=0,
        )
    masked = capture(
        llama,
        [Item("abcdef", positions=(0, -1))],
        "blocks.0.hook_resid_post",
        positions="mask",
        progress=False,
    )
    assert masked.position.tolist() == [0, 6]  # BOS + 6 characters


def test_streaming_reducers_match_plain_math(llama):
    items = [Item(p, label=str(i % 2)) for i, p in enumerate(PROMPTS * 2)]
    got = capture(
        llama,
        items,
        "blocks.1.hook_resid_post",
        positions="all",
        reduce=["keep", "mean", "label_mean", "moments"],
        batch_size=3,
        progress=False,
    )
    rows = got.activations["blocks.1.hook_resid_post"]
    hook = "blocks.1.hook_resid_post"
    torch.testing.assert_close(got.means[hook], rows.mean(0), atol=1e-5, rtol=1e-5)
    labels = torch.tensor([int(items[i].label) for i in got.prompt_index])
    for label in (0, 1):
        index = got.labels.index(str(label))
        torch.testing.assert_close(
            got.label_means[hook].means[index], rows[labels == label].mean(0), atol=1e-5, rtol=1e-5
        )
        assert got.label_means[hook].counts[index] == (labels == label).sum()
    torch.testing.assert_close(
        got.moments[hook].covariance.float(), torch.cov(rows.T), atol=1e-4, rtol=1e-4
    )


def test_streaming_memory_does_not_grow_with_prompts(llama):
    def peak(n: int) -> int:
        items = [Item(f"prompt number {i}", label=str(i % 3)) for i in range(n)]
        tracemalloc.start()
        capture(
            llama,
            items,
            "resid_post",
            positions="all",
            reduce=["label_mean", "moments"],
            batch_size=8,
            progress=False,
        )
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(16), peak(160)
    assert large < small * 1.5 + 200_000, (small, large)


def test_no_hooks_left_and_outputs_unchanged(llama):
    ids = torch.tensor([[1, 5, 6, 7]])
    before = llama.forward(ids)
    hooks_before = count_hooks(llama.hf)  # transformers keeps hooks of its own for output recording
    capture(llama, PROMPTS, "resid_post", progress=False)
    assert count_hooks(llama.hf) == hooks_before
    assert torch.equal(llama.forward(ids), before)


def test_bad_input(llama, tmp_path):
    with pytest.raises(InterpError, match="no prompts"):
        read_items((tmp_path / "empty.txt").write_text("\n\n") and tmp_path / "empty.txt")
    with pytest.raises(InterpError, match="does not exist"):
        read_items(tmp_path / "missing.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x"}) + "\n{not json\n")
    with pytest.raises(InterpError, match="bad.jsonl:2"):
        read_items(bad)
    with pytest.raises(InterpError, match="needs a response"):
        capture(llama, ["no response"], "resid_post", positions="response", progress=False)
    with pytest.raises(InterpError, match="label"):
        capture(llama, ["unlabelled"], "resid_post", reduce="label_mean", progress=False)
    with pytest.raises(InterpError, match="out of range"):
        capture(llama, ["x"], "blocks.9.hook_resid_post", progress=False)
