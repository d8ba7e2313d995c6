"""`interp extract` as a function: a per-layer direction set from a positive vs negative contrast.

    positive = ["Show steps.\\nQ:12+34+56+7=?\\nA:", ...]
    negative = ["Q:12+34+56+7=?\\nA:", ...]
    directions = extract_directions(model, positive, negative, method="mean_difference")
    directions.vector(1)            # (d_model,): layer 1's direction

Both sides are read at one hook kind, every layer, at the given token positions; an item read at
several tokens counts as the mean of them. `mean_difference` and `pca_of_differences` pair the items
of the two sides, so they need as many of each; `class_mean_difference` and `probe_weights` take any
two sets. With `from_store` (the positive side's store, then the negative's), the rows are read from
stores `interp capture` wrote for these items and this model instead of running it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from interp.capture.items import Item, as_items
from interp.capture.run import Captured, capture
from interp.directions import DirectionSet
from interp.errors import InterpError
from interp.models.model import Model
from interp.store.provenance import dataset_hash

PAIRED = ("mean_difference", "pca_of_differences")
METHODS = (*PAIRED, "class_mean_difference", "probe_weights")

Prompts = Sequence[str | Item | dict]


def check_contrast(method: str, positive: list[Item], negative: list[Item]) -> None:
    """Refuse an unknown method, an empty side, or unpaired sides for a paired method."""
    if method not in METHODS:
        raise InterpError(f"unknown method {method!r}", fix=f"use one of {', '.join(METHODS)}")
    if not positive or not negative:
        raise InterpError("a contrast needs items on both sides", fix="give positive and negative")
    if method in PAIRED and len(positive) != len(negative):
        raise InterpError(
            f"{method} pairs items, but --positive has {len(positive)} and --negative {len(negative)}",
            fix="give files of equal length, or use --method class_mean_difference",
        )


def extract_directions(
    model: Model,
    positive: Prompts,
    negative: Prompts,
    method: str = "mean_difference",
    *,
    hook: str = "resid_post",
    positions: str = "last",
    batch_size: int = 8,
    from_store: tuple[str | Path, str | Path] | None = None,
    progress: bool = False,
) -> DirectionSet:
    """One direction per layer at `hook`, from `positive` minus `negative` by `method`.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> ds = interp.extract_directions(model, ["Show steps.\\nQ:1+2=?\\nA:"], ["Q:1+2=?\\nA:"])
    >>> ds.layers, ds.hook, ds.vectors.shape
    ((0, 1), 'resid_post', torch.Size([2, 64]))
    """
    pos, neg = as_items(positive), as_items(negative)
    check_contrast(method, pos, neg)
    acts = [
        per_item(read(model, items, hook, positions, batch_size, store, progress), len(items))
        for items, store in zip((pos, neg), from_store or (None, None), strict=True)
    ]
    data_hash = dataset_hash([i.to_json() for i in pos] + [{"negative": i.to_json()} for i in neg])
    return DirectionSet.from_contrast(acts[0], acts[1], method, model=model, dataset_hash=data_hash)


def read(
    model: Model,
    items: list[Item],
    hook: str,
    positions: str,
    batch_size: int,
    store: str | Path | None,
    progress: bool,
) -> Captured:
    """The rows of `items` at `hook` and `positions`: from `store` when given, else by a capture."""
    if store is not None:
        from interp.capture.stored import read_capture

        return read_capture(store, model, items, hook, positions=positions)
    return capture(
        model,
        items,
        hook,
        positions=positions,  # type: ignore[arg-type]
        batch_size=batch_size,
        progress=progress,
    )


def per_item(captured: Captured, n_items: int) -> dict[str, Tensor]:
    """One row per item and hook: the mean of the item's selected tokens, in float32."""
    assert captured.prompt_index is not None  # a kept capture always has it
    out = {}
    for hook in captured.hooks:
        rows = captured.activations[hook].float()
        sums = torch.zeros(n_items, rows.shape[1]).index_add_(0, captured.prompt_index, rows)
        counts = torch.bincount(captured.prompt_index, minlength=n_items).clamp(min=1)
        out[hook] = sums / counts[:, None]
    return out
