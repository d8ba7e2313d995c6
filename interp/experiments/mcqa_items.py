"""Multiple-choice items for the head readout: read from a file or made from facts, rendered, split.

A questions file is JSON lines `{"question": ..., "options": [...], "answer": i}` (`answer` the index
of the right option, or its letter). A facts file is the task files' `{"prompt": ..., "answer": ...}`
(`examples/transfer_real/capitals.jsonl`); a fact becomes a question by `question_template` (filled
with `{subject}`, the prompt less a trailing colon), its answer among distractors drawn from the
other facts' answers. Each question is asked once per rotation of its options, so the right answer
sits at every letter equally often and a head (or the logits) that prefers a letter gains nothing;
the rotations of one question form a group, which splits and bootstraps keep together.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from pathlib import Path

from interp.errors import InterpError
from interp.files import json_lines

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class Question:
    """One question with its options, before rotation."""

    question: str
    options: tuple[str, ...]
    answer: int  # index into options


@dataclass(frozen=True)
class MCQItem:
    """One rendered multiple-choice prompt."""

    text: str  # the prompt, up to and including "Answer:"
    label_chars: tuple[int, ...]  # character index of each option's letter in `text`
    answer: int  # index of the right option
    group: int  # the question it was made from (rotations share it)


def read_questions(path: str | Path) -> list[Question]:
    """The questions of a JSON-lines file, each checked (2 to 26 distinct options, a valid answer)."""
    path = Path(path)
    out = []
    fix = 'write {"question": ..., "options": [...], "answer": index or letter} per line'
    if not path.is_file():
        raise InterpError(f"questions file {path} does not exist", fix="check task_file")
    for line, record in json_lines(path, fix=fix):
        where = f"{path}:{line}"
        if not isinstance(record, dict) or not {"question", "options", "answer"} <= set(record):
            raise InterpError(f"{where} is not a question record", fix=fix)
        options = record["options"]
        if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
            raise InterpError(f"{where}: options must be a list of 2 to 26 texts", fix=fix)
        if len(set(map(str, options))) != len(options):
            raise InterpError(f"{where}: two options are the same", fix="make the options distinct")
        answer = record["answer"]
        if isinstance(answer, str) and len(answer) == 1 and answer.upper() in LETTERS:
            answer = LETTERS.index(answer.upper())
        if (
            isinstance(answer, bool)
            or not isinstance(answer, int)
            or not 0 <= answer < len(options)
        ):
            raise InterpError(f"{where}: answer {record['answer']!r} names no option", fix=fix)
        out.append(Question(str(record["question"]), tuple(map(str, options)), answer))
    if not out:
        raise InterpError(f"{path} holds no questions", fix=fix)
    return out


def questions_from_facts(
    facts: list[tuple[str, str]], pool: list[str], template: str, n_options: int, seed: int
) -> list[Question]:
    """One question per fact (subject, answer), its distractors drawn from the `pool` of answers."""
    answers = sorted(set(pool))
    if len(answers) < n_options:
        raise InterpError(
            f"{len(answers)} distinct answers cannot fill {n_options} options",
            fix="use more facts, or fewer options",
        )
    rng = random.Random(f"mcqa-facts|{seed}")
    out = []
    for subject, answer in facts:
        others = rng.sample([a for a in answers if a != answer], n_options - 1)
        options = [answer, *others]
        rng.shuffle(options)
        question = template.format(subject=subject)
        out.append(Question(question, tuple(options), options.index(answer)))
    return out


def subject_of(prompt: str) -> str:
    """`"France:"` -> `"France"`: a task file's prompt as the subject of a question."""
    return prompt.strip().removesuffix(":").strip()


def render(question: Question, rotation: int, group: int) -> MCQItem:
    """The prompt with the options shifted by `rotation` places:

    Question: What is the capital of France?
    A. Rome
    B. Paris
    ...
    Answer:
    """
    n = len(question.options)
    order = [(i + rotation) % n for i in range(n)]  # option shown at letter j is order[j]
    text = f"Question: {question.question}\n"
    label_chars = []
    for letter, index in zip(LETTERS, order, strict=False):
        label_chars.append(len(text))
        text += f"{letter}. {question.options[index]}\n"
    text += "Answer:"
    return MCQItem(text, tuple(label_chars), order.index(question.answer), group)


def rotated(questions: list[Question], rotations: bool) -> list[MCQItem]:
    """Every question once per rotation of its options (or once, as written)."""
    return [
        render(q, r, group)
        for group, q in enumerate(questions)
        for r in (range(len(q.options)) if rotations else [0])
    ]


def with_demonstrations(items: list[MCQItem], demonstrations: list[Question]) -> list[MCQItem]:
    """Every item after the same solved questions ("...Answer: B", a blank line between), each
    rotated one place more than the last, so their right answers sit at different letters."""
    block = ""
    for i, question in enumerate(demonstrations):
        shown = render(question, i % len(question.options), -1)
        block += f"{shown.text} {LETTERS[shown.answer]}\n\n"
    return [
        MCQItem(
            block + item.text,
            tuple(len(block) + c for c in item.label_chars),
            item.answer,
            item.group,
        )
        for item in items
    ]


def split_groups(
    items: list[MCQItem], validation_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of the validation and test items: whole groups (questions) on one side each."""
    groups = sorted({item.group for item in items})
    random.Random(f"mcqa-split|{seed}").shuffle(groups)
    n_val = round(len(groups) * validation_fraction)
    if n_val < 1 or n_val >= len(groups):
        raise InterpError(
            f"{len(groups)} questions cannot be split into validation and test at "
            f"{validation_fraction}",
            fix="use more questions, or a validation_fraction between 0 and 1 that leaves both "
            "sides at least one",
        )
    chosen = set(groups[:n_val])
    val = [i for i, item in enumerate(items) if item.group in chosen]
    test = [i for i, item in enumerate(items) if item.group not in chosen]
    return val, test
