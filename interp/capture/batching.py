"""Tokenize items into padded batches and mark which positions to read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.capture.items import Item
from interp.capture.names import POSITIONS, Positions
from interp.errors import InterpError
from interp.models.tokens import Encoded, encode, pad


@dataclass
class Batch:
    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    select: Bool[Tensor, "batch pos"]  # positions to read
    token_index: Int[Tensor, "batch pos"]  # index of each position within its item's own tokens
    prompt_index: Int[Tensor, " batch"]  # index of each row in the whole item list


def encode_item(tokenizer, item: Item) -> Encoded:
    return encode(tokenizer, item.prompt, item.response)


def select_positions(item: Item, encoded: Encoded, positions: Positions) -> list[int]:
    """Indices into the item's tokens that `positions` asks for."""
    n = len(encoded.ids)
    if positions == "last":
        if encoded.prompt_len == 0:
            raise InterpError(
                f"prompt {str(item.prompt)[:60]!r} has no tokens of its own",
                fix="use a non-empty prompt",
            )
        return [encoded.prompt_len - 1]
    if positions == "all":
        return list(range(n))
    if positions == "response":
        if not item.has_response:
            raise InterpError(
                f"positions 'response' needs a response for every item; {str(item.prompt)[:40]!r} has none",
                fix='give records {"prompt": ..., "response": ...} or use --positions last/all',
            )
        return list(range(encoded.prompt_len, n))
    if positions == "mask":
        if item.positions is None:
            raise InterpError(
                "positions 'mask' needs a 'positions' list in every record",
                fix='give records {"prompt": ..., "positions": [0, -1]}',
            )
        bad = [p for p in item.positions if not -n <= p < n]
        if bad:
            raise InterpError(
                f"token positions {bad} are out of range for an item of {n} tokens",
                fix="fix 'positions'",
            )
        return sorted({p % n for p in item.positions})
    raise InterpError(f"unknown positions {positions!r}", fix=f"use one of {', '.join(POSITIONS)}")


def make_batch(
    encoded: Sequence[Encoded],
    selected: Sequence[Sequence[int]],
    prompt_index: Sequence[int],
    pad_id: int,
    padding_side: Literal["left", "right"] = "left",
) -> Batch:
    """Pad a list of encoded items into one batch (left padding keeps position -1 real)."""
    padded = pad([e.ids for e in encoded], pad_id, padding_side)
    rows, width = padded.input_ids.shape
    select = torch.zeros((rows, width), dtype=torch.bool)
    token_index = torch.full((rows, width), -1, dtype=torch.long)
    for row, (enc, sel, start) in enumerate(zip(encoded, selected, padded.starts, strict=True)):
        token_index[row, start : start + len(enc.ids)] = torch.arange(len(enc.ids))
        select[row, [start + p for p in sel]] = True
    return Batch(
        padded.input_ids,
        padded.attention_mask,
        select,
        token_index,
        torch.tensor(list(prompt_index)),
    )
