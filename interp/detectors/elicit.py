"""Elicitation (arXiv 2405.19550): a few fine-tuning steps on one or a few correct demonstrations.

Password-locked models usually recover their hidden capability after such a nudge; benign models
gain too, so the lift only means something beside the lift the same treatment gives benign models.
The weights are restored exactly afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.models.model import Model
from interp.stats import paired_bootstrap

Evaluate = Callable[[Model], Tensor]  # the model -> 0/1 correctness per item


@dataclass(frozen=True)
class Elicitation:
    clean_accuracy: float
    elicited_accuracy: float
    lift: float
    lift_ci95: tuple[float, float]
    steps: int
    n_demonstrations: int


def elicit(
    model: Model,
    demonstrations: Sequence[tuple[str, str]],
    evaluate: Evaluate,
    *,
    steps: int = 10,
    lr: float = 1e-3,
    n_bootstrap: int = 1000,
    seed: int = 0,
    clean: Tensor | None = None,
) -> Elicitation:
    """Accuracy before and after `steps` of AdamW on the demonstrations (loss on completions only).

    `clean`: the per-item scores before fine-tuning when the caller already has them.

    >>> elicit(model, [("Q:12+30+1+5\\nA:", "#48")], evaluate, steps=10)   # doctest: +SKIP
    """
    if not demonstrations:
        raise InterpError(
            "no demonstrations to fine-tune on", fix="give at least one (prompt, completion) pair"
        )
    if steps < 1 or lr <= 0:
        raise InterpError(
            f"steps {steps} and lr {lr} must be positive", fix="use e.g. steps=10, lr=1e-3"
        )
    clean = (evaluate(model) if clean is None else clean).float().cpu()
    saved = {name: p.detach().clone() for name, p in model.hf.named_parameters()}
    try:
        _fine_tune(model, demonstrations, steps, lr, seed)
        elicited = evaluate(model).float().cpu()
    finally:
        with torch.no_grad():
            for name, p in model.hf.named_parameters():
                p.copy_(saved[name])
        model.hf.eval()
    lift = paired_bootstrap(elicited, clean, n=n_bootstrap, seed=seed)
    return Elicitation(
        float(clean.mean()),
        float(elicited.mean()),
        float(elicited.mean() - clean.mean()),
        (lift.low, lift.high),
        steps,
        len(demonstrations),
    )


def _fine_tune(
    model: Model, demonstrations: Sequence[tuple[str, str]], steps: int, lr: float, seed: int
) -> None:
    tokenizer = model.tokenizer
    rows = []
    for prompt, completion in demonstrations:
        prompt_ids = list(tokenizer(prompt).input_ids)
        ids = list(tokenizer(prompt + completion).input_ids)
        if tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
        row_labels = [-100] * len(prompt_ids) + ids[len(prompt_ids) :]
        rows.append((ids, row_labels))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor(
        [ids + [pad] * (width - len(ids)) for ids, _ in rows], device=model.device
    )
    labels = torch.tensor(
        [lab + [-100] * (width - len(lab)) for _, lab in rows], device=model.device
    )
    attention = (
        (torch.arange(width)[None] < torch.tensor([len(ids) for ids, _ in rows])[:, None])
        .long()
        .to(model.device)
    )
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.hf.parameters(), lr=lr, weight_decay=0.0)
    model.hf.train()
    for _ in range(steps):
        loss = model.hf(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.hf.eval()
