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
from interp.results.audit_suspect import StepPoint
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
    curve: tuple[StepPoint, ...] = ()  # accuracy after each of `curve_steps`, one run


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
    curve_steps: Sequence[int] = (),
) -> Elicitation:
    """Accuracy before and after `steps` of AdamW on the demonstrations (loss on completions only).

    `clean`: the per-item scores before fine-tuning when the caller already has them.
    `curve_steps`: also measure the accuracy after each of these step counts (<= `steps`) on the
    way, in the same run: the attack as a curve over fine-tuning steps.

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
    if any(not 1 <= s <= steps for s in curve_steps):
        raise InterpError(
            f"curve steps {list(curve_steps)} must lie in 1..{steps}",
            fix="measure the curve within the fine-tuning run",
        )
    clean = (evaluate(model) if clean is None else clean).float().cpu()
    saved = {name: p.detach().clone() for name, p in model.hf.named_parameters()}
    measured: dict[int, Tensor] = {}

    def measure(step: int) -> None:
        if step in curve_steps and step != steps:
            measured[step] = evaluate(model).float().cpu()

    try:
        _fine_tune(model, demonstrations, steps, lr, seed, measure if curve_steps else None)
        elicited = evaluate(model).float().cpu()
        measured[steps] = elicited
    finally:
        with torch.no_grad():
            for name, p in model.hf.named_parameters():
                p.copy_(saved[name])
        model.hf.eval()
    lift = paired_bootstrap(elicited, clean, n=n_bootstrap, seed=seed)
    curve = []
    for step in sorted(set(curve_steps)):
        ci = paired_bootstrap(measured[step], clean, n=n_bootstrap, seed=seed)
        accuracy = float(measured[step].mean())
        curve.append(StepPoint(step, accuracy, accuracy - float(clean.mean()), (ci.low, ci.high)))
    return Elicitation(
        float(clean.mean()),
        float(elicited.mean()),
        float(elicited.mean() - clean.mean()),
        (lift.low, lift.high),
        steps,
        len(demonstrations),
        tuple(curve),
    )


@dataclass(frozen=True)
class DemonstrationBatch:
    """Demonstrations as one right-padded batch; `labels` is -100 outside the completions."""

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor


def demonstration_batch(
    tokenizer, demonstrations: Sequence[tuple[str, str]], device: torch.device | str
) -> DemonstrationBatch:
    """(prompt, completion) pairs tokenized as prompt + completion + EOS, the loss on the rest."""
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
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], device=device)
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows], device=device)
    attention = (
        (torch.arange(width)[None] < torch.tensor([len(ids) for ids, _ in rows])[:, None])
        .long()
        .to(device)
    )
    return DemonstrationBatch(input_ids, attention, labels)


def _fine_tune(
    model: Model,
    demonstrations: Sequence[tuple[str, str]],
    steps: int,
    lr: float,
    seed: int,
    after_step: Callable[[int], None] | None = None,
) -> None:
    batch = demonstration_batch(model.tokenizer, demonstrations, model.device)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.hf.parameters(), lr=lr, weight_decay=0.0)
    model.hf.train()
    for step in range(1, steps + 1):
        loss = model.hf(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            model.hf.eval()
            after_step(step)
            model.hf.train()
    model.hf.eval()
