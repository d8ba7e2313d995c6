"""`interp mcqa`: multiple choice answered by one attention head ("Listening to the Wise Few").

For every multiple-choice prompt, each head scores each option by the final token's query against
the key of the option's letter (QK-score) and by the attention weight on it; a head answers with
its best-scoring option. The head (and score kind) with the best accuracy on the validation
questions is chosen, and only its test accuracy is reported, beside the logit baseline (the letter
with the highest next-token logit) on the same test items, with bootstrap intervals that resample
whole questions (every rotation of a question's options moves together).

    {"model": "~/.cache/interp/models/SmolLM2-135M-Instruct.Q4_1.gguf",
     "source": "facts", "task_file": "examples/transfer_real/capitals.jsonl",
     "question_template": "What is the capital of {subject}?"}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.experiments.config_checks import (
    check_fields,
    check_known_fields,
    flag,
    missing,
    nonempty_text,
    one_of,
    optional,
    positive_int,
    whole_number,
)
from interp.experiments.mcqa_items import (
    Question,
    questions_from_facts,
    read_questions,
    rotated,
    split_groups,
    subject_of,
    with_demonstrations,
)
from interp.results.mcqa import HeadAccuracy, MCQAResult
from interp.stats import bootstrap_ci, wilson_interval

SCORES = ("qk", "attention")


@dataclass(frozen=True)
class MCQAConfig:
    """Everything needed to rerun the study; written to the run directory as config.json."""

    model: str
    task_file: str  # questions (source "questions") or facts (source "facts"), JSON lines
    source: Literal["questions", "facts"] = "questions"
    question_template: str = "What is the capital of {subject}?"  # facts: the question asked
    n_options: int = 4  # facts: options per question
    n_shots: int = 8  # facts: demonstrations for the free-form check
    max_facts: int | None = None  # facts: check at most this many
    max_questions: int | None = None  # ask at most this many (after the free-form check)
    rotations: bool = True  # ask each question once per rotation of its options
    chat: bool = False  # ask each question as one user message through the chat template
    mcq_shots: int = 0  # solved questions before each one (set aside, never asked)
    validation_fraction: float = 0.5  # share of the questions the head is chosen on
    n_boot: int = 1000
    seed: int = 0
    dtype: str | None = None
    device_map: str | dict | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> MCQAConfig:
        from interp.experiments.config_file import read_config_file

        return cls.from_dict(read_config_file(path), where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "config") -> MCQAConfig:
        if not isinstance(raw, dict):
            raise InterpError(
                f"{where} must be a JSON object", fix='write {"model": ..., "task_file": ...}'
            )
        check_known_fields(raw, cls, where)
        absent = missing(raw, ("model", "task_file"))
        if absent:
            raise InterpError(f"{where} is missing {absent}", fix="name a model and a task file")
        config = cls(**raw)
        config.check(where)
        return config

    def check(self, where: str = "config") -> None:
        rules = {
            "model": nonempty_text,
            "task_file": nonempty_text,
            "source": one_of("questions", "facts"),
            "question_template": nonempty_text,
            "n_options": positive_int,
            "n_shots": whole_number,
            "mcq_shots": whole_number,
            "max_facts": optional(positive_int),
            "max_questions": optional(positive_int),
            "rotations": flag,
            "chat": flag,
            "n_boot": positive_int,
            "seed": whole_number,
        }
        check_fields(self, rules, where)
        if not 0 < self.validation_fraction < 1:
            raise InterpError(
                f"{where}: validation_fraction {self.validation_fraction} is not between 0 and 1",
                fix="use e.g. 0.5",
            )
        if not 2 <= self.n_options <= 26:
            raise InterpError(f"{where}: n_options must be 2 to 26", fix="use e.g. 4")
        if self.source == "facts" and "{subject}" not in self.question_template:
            raise InterpError(
                f"{where}: question_template has no {{subject}}",
                fix='write e.g. "What is the capital of {subject}?"',
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_mcqa(
    config: MCQAConfig,
    out: str | Path | None = None,
    *,
    model: Any = None,
    progress: bool = False,
) -> MCQAResult:
    """The study on `model` (a loaded `Model`; else the config's spec is loaded); with `out`, a run
    directory with config.json, metrics.json and report.md (written whole at the end)."""
    from interp.experiments.mcqa_scores import score_items

    run = None
    if out is not None:
        from interp.experiments.run_dir import RunDir

        run = RunDir.open(out, config.to_dict())
    if model is None:
        from interp.experiments.loading import load_study_model

        model = load_study_model(config, config.model)
    questions, checked, known = _questions(config, model, progress)
    demonstrations = _set_aside(questions, config)
    questions = questions[len(demonstrations) :]
    if config.max_questions is not None:
        questions = questions[: config.max_questions]
    items = with_demonstrations(rotated(questions, config.rotations), demonstrations)
    validation, test = split_groups(items, config.validation_fraction, config.seed)
    scores = score_items(model, items, chat=config.chat, progress=progress)
    answers = torch.tensor([item.answer for item in items])
    groups = torch.tensor([item.group for item in items])
    result = _evaluate(config, scores, answers, groups, validation, test)
    result = dataclasses.replace(
        result,
        model=model.spec,
        n_questions=len(questions),
        facts_checked=checked,
        facts_known=None if checked is None else wilson_interval(known, checked),
    )
    if run is not None:
        from interp.files import atomic_write_json, atomic_write_text
        from interp.reports.mcqa_report import report

        atomic_write_json(run.path / "metrics.json", result.to_json())
        atomic_write_text(run.path / "report.md", report(result))
        run.finish()
    return result


def _questions(
    config: MCQAConfig, model: Any, progress: bool
) -> tuple[list[Question], int | None, int]:
    """The questions to ask, and for facts how many were checked in free form and known."""
    if config.source == "questions":
        return read_questions(config.task_file), None, 0
    from interp.experiments.mcqa_facts import known_facts

    facts = known_facts(
        model,
        config.task_file,
        n_shots=config.n_shots,
        max_facts=config.max_facts,
        seed=config.seed,
        progress=progress,
    )
    if len(facts.known) < 2:
        raise InterpError(
            f"the model completed only {len(facts.known)} of {facts.checked} facts correctly in "
            "free form, too few to ask",
            fix="use facts the model knows, more demonstrations (n_shots), or a larger model",
        )
    subjects = [(subject_of(prompt), answer) for prompt, answer in facts.known]
    asked = questions_from_facts(
        subjects, facts.pool, config.question_template, config.n_options, config.seed
    )
    return asked, facts.checked, len(facts.known)


def _set_aside(questions: list[Question], config: MCQAConfig) -> list[Question]:
    """The first `mcq_shots` questions, shown solved before every other one and never asked."""
    if config.mcq_shots >= len(questions) - 1:
        raise InterpError(
            f"mcq_shots {config.mcq_shots} leaves fewer than 2 of {len(questions)} questions to ask",
            fix="lower mcq_shots or add questions",
        )
    return questions[: config.mcq_shots]


def correct(scores: Tensor, answers: Tensor) -> Tensor:
    """1.0 where the highest-scoring option (last dim) is the answer: (items, ...) floats."""
    shape = (-1,) + (1,) * (scores.ndim - 2)
    return (scores.argmax(-1) == answers.view(shape)).float()


def _evaluate(
    config: MCQAConfig,
    scores: Any,
    answers: Tensor,
    groups: Tensor,
    validation: list[int],
    test: list[int],
) -> MCQAResult:
    val, tst = torch.tensor(validation), torch.tensor(test)
    heads: list[HeadAccuracy] = []
    per_kind: dict[str, Tensor] = {}
    for kind in SCORES:
        hits = correct(getattr(scores, kind), answers)  # (items, layers, heads)
        per_kind[kind] = hits
        val_acc, test_acc = hits[val].mean(0), hits[tst].mean(0)
        for layer in range(hits.shape[1]):
            for head in range(hits.shape[2]):
                heads.append(
                    HeadAccuracy(
                        layer, head, kind, float(val_acc[layer, head]), float(test_acc[layer, head])
                    )
                )
    # Ties go to the first in (layer, head, qk before attention) order: max keeps the first.
    chosen = max(heads, key=lambda h: h.validation)
    oracle = max(heads, key=lambda h: h.test)
    head_hits = per_kind[chosen.score][tst, chosen.layer, chosen.head]
    logit_hits = correct(scores.logits, answers)
    test_groups = groups[tst]
    n_boot, seed = config.n_boot, config.seed

    def mean(x: Tensor) -> float:
        return float(x.mean())

    def difference(a: Tensor, b: Tensor) -> float:
        return float((a - b).mean())

    head_test = bootstrap_ci(mean, head_hits, n=n_boot, seed=seed, groups=test_groups)
    logit_test = bootstrap_ci(mean, logit_hits[tst], n=n_boot, seed=seed, groups=test_groups)
    gain = bootstrap_ci(
        difference, head_hits, logit_hits[tst], n=n_boot, seed=seed, groups=test_groups
    )
    same_kind = [h.test for h in heads if h.score == chosen.score]
    return MCQAResult(
        config=config.to_dict(),
        model=config.model,
        source=config.source,
        n_questions=int(groups.unique().numel()),
        n_items=int(answers.numel()),
        n_validation=len(validation),
        n_test=len(test),
        chance=1.0 / scores.logits.shape[-1],
        chosen=chosen,
        head_test=head_test,
        logit_test=logit_test,
        gain=gain,
        logit_validation=float(logit_hits[val].mean()),
        mean_head_test=sum(same_kind) / len(same_kind),
        oracle=oracle,
        heads=heads,
    )
