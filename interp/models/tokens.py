"""Text to the token ids a model sees: a prompt, optionally followed by a response, and padding.

Prompt and response are encoded together (so the tokens are exactly what the model sees); the
prompt/response boundary is the longest prefix the joint encoding shares with the prompt alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Int
from torch import Tensor

from interp.errors import InterpError


@dataclass(frozen=True)
class Encoded:
    """One text's tokens and where its prompt ends."""

    ids: list[int]
    prompt_len: int


@dataclass(frozen=True)
class Padded:
    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    starts: list[int]  # column of each row's first real token


def encode(tokenizer, prompt: str, response: str | None = None) -> Encoded:
    """Token ids of `prompt` (+ `response`), with special tokens as the tokenizer adds them."""
    prompt_ids = list(tokenizer(prompt).input_ids)
    if response is None:
        ids, prompt_len = prompt_ids, len(prompt_ids)
    else:
        ids = list(tokenizer(prompt + response).input_ids)
        prompt_len = _shared_prefix(prompt_ids, ids)
    if not ids:
        raise InterpError(
            f"prompt {prompt!r} encodes to no tokens",
            fix="use a non-empty prompt, or a tokenizer that adds a BOS token",
        )
    return Encoded(ids, prompt_len)


def pad(
    rows: Sequence[Sequence[int]], pad_id: int, side: Literal["left", "right"] = "left"
) -> Padded:
    """Rows of token ids as one batch; left padding keeps position -1 a real token."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    starts = []
    for row, ids in enumerate(rows):
        start = width - len(ids) if side == "left" else 0
        input_ids[row, start : start + len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[row, start : start + len(ids)] = 1
        starts.append(start)
    return Padded(input_ids, attention_mask, starts)


def _shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
