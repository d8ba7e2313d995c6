"""A model's greedy answers to the audit's questions, their grades, and how far noise moves them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from interp.capture.items import Item
from interp.errors import InterpError
from interp.experiments.audit_config import AuditConfig
from interp.experiments.audit_engine import Answerer, as_answerer
from interp.experiments.audit_task import Question, grader
from interp.experiments.run_dir import RunDir
from interp.models.model import Model


@dataclass(frozen=True)
class Transcripts:
    """One model's greedy answers to the audit questions under one preamble."""

    prompts: list[str]
    responses: list[str]
    correct: Tensor  # (n,) 1.0 where the grader accepts the answer

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    def items(self) -> list[Item]:
        return [Item(p, r) for p, r in zip(self.prompts, self.responses, strict=True)]


def graded(
    items: list[Question], preamble: str, responses: list[str], config: AuditConfig
) -> Transcripts:
    """Answers already given (a checkpoint's), graded again."""
    grade = grader(config.grader)
    correct = torch.tensor(
        [float(grade(r, i.answer)) for r, i in zip(responses, items, strict=True)]
    )
    return Transcripts([preamble + item.prompt for item in items], responses, correct)


def answer(
    who: Model | Answerer,
    items: list[Question],
    preamble: str,
    config: AuditConfig,
    run: RunDir | None = None,
    unit: str = "",
    changed: bool = False,
) -> Transcripts:
    """Greedy answers and their grades; with `run`, the answers are checkpointed as `unit`.
    `who` is a model (answering on hf) or an `Answerer` on the audit's engine; `changed`: the
    model's weights are not those it was loaded with (noise, fine-tuning)."""
    answerer = as_answerer(who)

    def respond() -> list[str]:
        prompts = [preamble + item.prompt for item in items]
        return answerer.respond(prompts, config.max_new_tokens, config.batch_size, changed)

    responses = respond() if run is None else run.unit(unit, respond)
    return graded(items, preamble, responses, config)


def check_grader(name: str, transcripts: Transcripts) -> None:
    """A trusted model that gets nothing right means the task or the grader is wrong."""
    if transcripts.correct.sum() == 0:
        example = transcripts.responses[0][:60] if transcripts.responses else ""
        raise InterpError(
            f"the grader marked every one of {name}'s {len(transcripts.responses)} answers "
            f"wrong (first answer: {example!r})",
            fix="check that the task (skill, n_operands and digits, or task_file) and preamble are "
            "the ones the models were trained on and that the grader reads their answer format",
        )


def answer_drift(
    model: Model, transcripts: Transcripts, batch_size: int
) -> Callable[..., float] | None:
    """A measure for the noise sweep: how much less likely the perturbed model finds its own clean
    answers, in nats per answer token (0 when the noise did not move it); None without answers."""
    from interp.capture.batching import encode_item
    from interp.experiments.scoring import continuation_logprobs

    items = transcripts.items()
    encoded = [encode_item(model.tokenizer, item) for item in items]
    kept = [(i, e) for i, e in zip(items, encoded, strict=True) if 0 < e.prompt_len < len(e.ids)]
    if not kept:
        return None
    own = [item for item, _ in kept]
    n_tokens = sum(len(e.ids) - e.prompt_len for _, e in kept)
    clean = continuation_logprobs(model, own, batch_size)

    def drift(_module=None) -> float:
        return float((clean - continuation_logprobs(model, own, batch_size)).sum()) / n_tokens

    return drift
