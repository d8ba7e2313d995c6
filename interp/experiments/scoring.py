"""Scoring continuations: the log-probability a model gives a response after a prompt."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from interp.capture.batching import encode_item, make_batch
from interp.capture.items import Item
from interp.errors import InterpError
from interp.models.model import Model
from interp.stats import bootstrap_mean


@torch.no_grad()
def continuation_logprobs(model: Model, items: Sequence[Item], batch_size: int = 16) -> Tensor:
    """Sum over each item's response tokens of log p(token | everything before it): shape (n_items,).

    >>> continuation_logprobs(model, [Item("Once upon a time", response=" there")])  # doctest: +SKIP
    """
    encoded = [encode_item(model.tokenizer, item) for item in items]
    for item, enc in zip(items, encoded, strict=True):
        if not item.has_response or enc.prompt_len == len(enc.ids):
            raise InterpError(
                f"item {str(item.prompt)[:40]!r} has no response tokens to score",
                fix="give every item a non-empty response",
            )
        if enc.prompt_len == 0:
            raise InterpError(
                f"item {str(item.prompt)[:40]!r} has no prompt tokens to condition on",
                fix="use a tokenizer that adds BOS or a non-empty prompt",
            )
    scores = torch.empty(len(items))
    for start in range(0, len(items), batch_size):
        chunk = encoded[start : start + batch_size]
        # Select the response tokens; right padding keeps each row's tokens at their own indices.
        selected = [list(range(e.prompt_len, len(e.ids))) for e in chunk]
        batch = make_batch(
            chunk, selected, range(len(chunk)), model.tokenizer.pad_token_id, "right"
        )
        logprobs = (
            model.forward(batch.input_ids, batch.attention_mask).float().log_softmax(-1).cpu()
        )
        # Position t is predicted by the logits at t - 1.
        target = batch.select[:, 1:]
        token_lp = logprobs[:, :-1].gather(-1, batch.input_ids[:, 1:, None]).squeeze(-1)
        scores[start : start + len(chunk)] = (token_lp * target).sum(-1)
    return scores


@torch.no_grad()
def next_token_kl(model: Model, base_logits: Tensor, steered_logits: Tensor, mask: Tensor) -> float:
    """Mean over real positions of KL(unsteered || steered) of the next-token distribution."""
    base = base_logits.float().log_softmax(-1)
    steered = steered_logits.float().log_softmax(-1)
    kl = (base.exp() * (base - steered)).sum(-1)
    return float(kl[mask.bool()].mean())


def bootstrap_mean_ci(
    values: Tensor, n: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (`interp.stats.bootstrap_mean`), as
    (low, high) for the studies that report it so."""
    ci = bootstrap_mean(values, n=n, seed=seed, alpha=1 - level)
    return ci.low, ci.high
