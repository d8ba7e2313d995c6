"""A capture read back from its store equals the capture itself; a store that is not this model's
finished capture of these items at these points is refused."""

from __future__ import annotations

import pytest
import torch

from interp.capture.items import Item
from interp.capture.run import capture
from interp.capture.stored import read_capture
from interp.errors import InterpError
from interp.models.load import load_model
from interp.store.reader import ActivationReader
from interp.store.writer import ActivationWriter

ITEMS = [
    Item("the cat sat", response=" on the mat", label="a"),
    Item("a much longer prompt about dogs and cats", response=" yes", label="b"),
    Item("hi", response=" there you are", label="a"),
    Item("one two three four", response=" five", label="b"),
    Item("open the door", response=" now", label="a"),
]


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(tiny_dirs["llama"])


def stored(model, out, items=ITEMS, hooks="resid_post", positions="all", batch_size=2):
    return capture(
        model, items, hooks, positions=positions, batch_size=batch_size, out=out, progress=False
    )


@pytest.mark.parametrize("positions", ["all", "last", "response"])
def test_a_store_reads_back_as_the_fresh_capture(llama, tmp_path, positions):
    stored(llama, tmp_path / "acts", positions=positions)
    fresh = capture(llama, ITEMS, "resid_post", positions=positions, batch_size=2, progress=False)
    got = read_capture(tmp_path / "acts", llama, ITEMS, "resid_post", positions=positions)
    assert got.hooks == fresh.hooks and got.labels == fresh.labels == ["a", "b"]
    assert torch.equal(got.prompt_index, fresh.prompt_index)
    assert torch.equal(got.position, fresh.position)
    for hook in fresh.hooks:
        assert got.activations[hook].dtype == fresh.activations[hook].dtype
        assert torch.equal(got.activations[hook], fresh.activations[hook])


def copy_store(source_dir, out, prompts):
    """The rows of `prompts` (in that order) of the store at `source_dir`, written to `out`."""
    source = ActivationReader(source_dir)
    rows = {h: source.read(h) for h in source.hooks}
    index, position = source.prompt_index(), source.position()
    with ActivationWriter(out, source.provenance) as writer:
        for p in prompts:
            keep = index == p
            writer.add(index[keep], position[keep], {h: r[keep] for h, r in rows.items()})
    return out


def test_a_resumed_store_comes_back_in_item_order(llama, tmp_path):
    """A resumed capture appends the prompts it missed after the others: out of item order."""
    stored(llama, tmp_path / "acts", positions="all")
    scrambled = copy_store(tmp_path / "acts", tmp_path / "scrambled", [4, 2, 0, 3, 1])
    assert ActivationReader(scrambled).prompt_index()[0] == 4
    got = read_capture(scrambled, llama, ITEMS, "resid_post", positions="all")
    fresh = capture(llama, ITEMS, "resid_post", positions="all", batch_size=2, progress=False)
    assert torch.equal(got.prompt_index, fresh.prompt_index)
    assert torch.equal(got.position, fresh.position)
    assert all(torch.equal(got.activations[h], fresh.activations[h]) for h in fresh.hooks)


def test_a_subset_of_the_stored_hooks_can_be_read(llama, tmp_path):
    stored(llama, tmp_path / "acts", hooks=["resid_post", "mlp_out"], positions="last")
    got = read_capture(tmp_path / "acts", llama, ITEMS, "blocks.-1.hook_mlp_out", positions="last")
    assert list(got.activations) == ["blocks.2.hook_mlp_out"]


def test_stores_that_do_not_fit_are_refused(llama, tiny_dirs, tmp_path):
    out = tmp_path / "acts"
    stored(llama, out, hooks="blocks.0.hook_resid_post", positions="last")
    other = load_model(tiny_dirs["qwen2"])
    cases = [
        (dict(model=other), "captured from"),
        (dict(items=ITEMS[:4]), "other prompts"),
        (dict(positions="all"), "positions 'last'"),
        (dict(hooks="resid_post"), "lacks 2 of the hook points"),
    ]
    for change, message in cases:
        kwargs = dict(model=llama, items=ITEMS, hooks="blocks.0.hook_resid_post", positions="last")
        kwargs |= change
        with pytest.raises(InterpError, match=message):
            read_capture(out, kwargs.pop("model"), kwargs.pop("items"), **kwargs)
    with pytest.raises(InterpError, match="no activation store"):
        read_capture(tmp_path / "nothing", llama, ITEMS, "resid_post", positions="last")


def test_an_unfinished_store_is_refused(llama, tmp_path):
    stored(llama, tmp_path / "acts", positions="last")
    part = copy_store(tmp_path / "acts", tmp_path / "part", [0, 1, 2])
    with pytest.raises(InterpError, match="stopped after 3 of 5 prompts"):
        read_capture(part, llama, ITEMS, "resid_post", positions="last")
