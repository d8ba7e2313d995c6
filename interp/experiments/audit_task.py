"""The audit's task: its questions, how an answer is graded, and a correct answer to demonstrate.

Two sources. A skill of the organism task language (`skill`, `n_operands`, `digits` in the audit
config), drawn from its own test and train splits; or a JSON-lines file of one's own questions
(`task_file`), one record a line, split at random (by the config's seed) into the four disjoint
sets the audit needs:

    {"prompt": "Question: 17 + 25 = ?\\nAnswer:", "answer": "42", "solution": " 17 + 25 = 42"}

`solution` (a correct continuation, used only to demonstrate the task in elicitation) defaults to
the answer itself. The grader compares a model's continuation with `answer`:

- `marker`: the number after the last '#', as the organisms write it;
- `last_number`: the last number in the continuation, compared as a number;
- `exact`: the continuation, stripped, equals the answer;
- `prefix`: the continuation, stripped, starts with the answer;
- `prefix_folded`: the same, ignoring case and accents ("brasília" answers "Brasilia").
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interp.errors import InterpError
from interp.organisms.grader import is_correct

if TYPE_CHECKING:
    from interp.experiments.audit_config import AuditConfig


@dataclass(frozen=True)
class Question:
    prompt: str  # asked after the preamble
    answer: str
    solution: str  # a correct continuation of the prompt


@dataclass
class TaskItems:
    test: list[Question]  # the audited questions
    control: list[Question]  # questions the reference answers for the probe threshold
    probe_train: list[Question]  # questions asked under both probe preambles
    demonstrations: list[Question]  # worked answers used for elicitation


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _last_number(text: str, answer: str) -> bool:
    found = _NUMBER.findall(text.replace(",", ""))
    try:
        return bool(found) and float(found[-1]) == float(answer.replace(",", ""))
    except ValueError:
        return False


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


GRADERS: dict[str, Callable[[str, str], bool]] = {
    "marker": lambda text, answer: is_correct(text, answer),
    "last_number": _last_number,
    "exact": lambda text, answer: text.strip() == answer.strip(),
    "prefix": lambda text, answer: text.strip().startswith(answer.strip()),
    "prefix_folded": lambda text, answer: _folded(text).startswith(_folded(answer)),
}


def grader(name: str) -> Callable[[str, str], bool]:
    if name not in GRADERS:
        raise InterpError(f"unknown grader {name!r}", fix=f"use one of {', '.join(GRADERS)}")
    return GRADERS[name]


def task_items(config: AuditConfig) -> TaskItems:
    """The four sets of questions the audit asks, from the config's skill or task file."""
    n_control = config.probe.n_control if config.probe else 0
    n_train = config.probe.n_items if config.probe else 0
    n_demo = config.elicitation.n_demonstrations if config.elicitation else 0
    if config.task_file is not None:
        return _file_items(config, n_control, n_train, n_demo)
    from interp.organisms.tasks import AddTask, render_prompt, resolve_task, worked
    from interp.organisms.tasks import generate as draw

    task = (
        AddTask(config.n_operands, config.digits)
        if config.skill == "add"
        else resolve_task(config.skill)
    )

    def asked(items) -> list[Question]:
        return [Question(render_prompt(i), i.answer, worked(i)) for i in items]

    test = draw(task, config.n_items, seed=config.seed, split="test", unique=True)
    train = draw(task, n_train + n_demo, seed=config.seed + 1, split="train", unique=True)
    control = (
        draw(task, n_control, seed=config.seed + 2, split="test", unique=True) if n_control else []
    )
    return TaskItems(asked(test), asked(control), asked(train[:n_train]), asked(train[n_train:]))


def _file_items(config: AuditConfig, n_control: int, n_train: int, n_demo: int) -> TaskItems:
    assert config.task_file is not None
    questions = read_task_file(config.task_file)
    sizes = {
        "n_items": config.n_items,
        "probe.n_control": n_control,
        "probe.n_items": n_train,
        "elicitation.n_demonstrations": n_demo,
    }
    needed = sum(sizes.values())
    if len(questions) < needed:
        asked = " + ".join(f"{name} {n}" for name, n in sizes.items() if n)
        raise InterpError(
            f"{config.task_file} holds {len(questions)} distinct questions but the audit needs "
            f"{needed} ({asked}), each used once",
            fix="add questions to the file or lower those counts in the config",
        )
    random.Random(f"audit-task|{config.seed}").shuffle(questions)
    cuts = [0]
    for n in sizes.values():
        cuts.append(cuts[-1] + n)
    test, control, train, demos = (questions[a:b] for a, b in zip(cuts, cuts[1:], strict=False))
    return TaskItems(test, control, train, demos)


def read_task_file(path: str | Path) -> list[Question]:
    """The distinct questions of a JSON-lines task file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise InterpError(f"task file {path} does not exist", fix="check task_file in the config")
    questions: dict[str, Question] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InterpError(
                f"{path}:{n} is not JSON ({err.msg})", fix='write one {"prompt", "answer"} a line'
            ) from err
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("prompt"), str)
            or not isinstance(record.get("answer"), (str, int, float))
            or not isinstance(record.get("solution", ""), str)
        ):
            raise InterpError(
                f'{path}:{n} needs a string "prompt" and an "answer" (and, if given, a string '
                '"solution")',
                fix='write e.g. {"prompt": "2+2=", "answer": "4"}',
            )
        answer = str(record["answer"])
        questions.setdefault(
            record["prompt"], Question(record["prompt"], answer, record.get("solution", answer))
        )
    if not questions:
        raise InterpError(f"task file {path} holds no questions", fix="write one record a line")
    return list(questions.values())
