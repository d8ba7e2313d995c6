"""What a transfer study asks: its items, the texts each condition shows a model, and the splits.

Items come from an organism skill (the zoo's task language) or from a task file of one's own,
JSON lines `{"prompt": ..., "answer": ...}` graded by one of the audit's graders. A task file is
shuffled by the config's seed into disjoint demonstration, fit, selection and test sets.

The contrast decides what "locked" and "unlocked" show:
- `prompt`: the same model under two preambles (e.g. a direct-answer and a step-by-step cue);
- `model`: base vs post-trained sibling, both on the locked prompt;
- `fewshot`: k demonstrations before the item vs none; a demonstration is `demo_template` filled
  with its prompt and answer (default `{prompt} {answer}`), one per line.
A model with `chat` set sees each text as one user message through its chat template.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from interp.errors import InterpError
from interp.models.tokens import Chat, Prompt

if TYPE_CHECKING:
    from interp.experiments.transfer_config import TransferConfig


@dataclass(frozen=True)
class TaskItem:
    prompt: str  # the question, before any preamble or demonstrations
    answer: str
    organism_item: object | None = None  # the zoo's own item, for the zoo's prompt rendering


@dataclass
class TransferSplits:
    demonstrations: list[TaskItem]  # shown before items in the few-shot contrast
    fit: list[TaskItem]  # the largest N: directions and maps are fitted on their first n
    select: list[TaskItem]  # the grid is scored on these
    test: list[TaskItem]  # scored once


def load_splits(config: TransferConfig) -> TransferSplits:
    """The study's disjoint item sets, from its skill or its task file; too few is refused here,
    before any model is loaded."""
    n_fit = max(config.n_values)
    n_demo = config.n_shots if config.contrast == "fewshot" else 0
    if config.task_file is None:
        return _skill_splits(config, n_fit, n_demo)
    from interp.experiments.audit_task import read_task_file

    items = [TaskItem(q.prompt, q.answer) for q in read_task_file(config.task_file)]
    sizes = {"n_shots": n_demo, "max(n_values)": n_fit, "n_select": config.n_select}
    sizes["n_test"] = config.n_test
    needed = sum(sizes.values())
    if len(items) < needed:
        asked = " + ".join(f"{name} {n}" for name, n in sizes.items() if n)
        raise InterpError(
            f"{config.task_file} holds {len(items)} distinct items but the study needs {needed} "
            f"({asked}), each used once",
            fix="add items to the file or lower those counts in the config",
        )
    random.Random(f"transfer-task|{config.seed}").shuffle(items)
    cut = _cumulative([n_demo, n_fit, config.n_select, config.n_test])
    return TransferSplits(*(items[a:b] for a, b in zip([0, *cut[:-1]], cut, strict=True)))


def _skill_splits(config: TransferConfig, n_fit: int, n_demo: int) -> TransferSplits:
    from interp.organisms.tasks import AddTask, resolve_task
    from interp.organisms.tasks import generate as draw

    task = (
        AddTask(config.n_operands, config.digits)
        if config.skill == "add"
        else resolve_task(config.skill)
    )
    train = draw(
        task, n_demo + n_fit + config.n_select, seed=config.seed, split="train", unique=True
    )
    test = draw(task, config.n_test, seed=config.seed, split="test", unique=True)

    def wrap(items: list) -> list[TaskItem]:
        return [TaskItem(item.question, item.answer, item) for item in items]

    # Demonstrations come after the fit and selection items, so a study without them draws the
    # same fit and selection items as before few-shot existed.
    fit, rest = train[:n_fit], train[n_fit:]
    return TransferSplits(
        wrap(rest[config.n_select :]), wrap(fit), wrap(rest[: config.n_select]), wrap(test)
    )


def _cumulative(sizes: list[int]) -> list[int]:
    total, out = 0, []
    for size in sizes:
        total += size
        out.append(total)
    return out


@dataclass(frozen=True)
class Conditions:
    """The texts of the two conditions, as every model of the study sees them."""

    locked_preamble: str
    unlocked_preamble: str
    demonstrations: str  # the few-shot block before an unlocked item ("" outside fewshot)

    @classmethod
    def of(cls, config: TransferConfig, splits: TransferSplits) -> Conditions:
        shots = splits.demonstrations[: config.n_shots] if config.contrast == "fewshot" else []
        block = "".join(
            config.demo_template.format(prompt=d.prompt, answer=d.answer) + "\n" for d in shots
        )
        unlocked = config.unlocked_preamble if config.contrast == "prompt" else ""
        return cls(config.locked_preamble, unlocked, block)

    def locked(self, item: TaskItem) -> str:
        return _render(item, self.locked_preamble)

    def unlocked(self, item: TaskItem) -> str:
        if self.demonstrations:
            return self.locked_preamble + self.demonstrations + item.prompt
        return _render(item, self.unlocked_preamble or self.locked_preamble)


def _render(item: TaskItem, preamble: str) -> str:
    if item.organism_item is not None:
        from interp.organisms.tasks import Item as OrganismItem
        from interp.organisms.tasks import render_prompt

        return render_prompt(cast(OrganismItem, item.organism_item), preamble)
    return preamble + item.prompt


def as_model_prompt(chat: bool) -> Callable[[str], Prompt]:
    """Texts as a model sees them: as they are, or as one user message through its template."""
    return Chat.of if chat else (lambda text: text)
