"""The four disjoint sets of questions an audit asks, drawn from its config.

A skill of the organism task language (`skill`, `n_operands`, `digits`) is drawn from its own test
and train splits; a task file (`task_file`) is shuffled by the config's seed and cut in four.
"""

from __future__ import annotations

import random

from interp.errors import InterpError
from interp.experiments.audit_config import AuditConfig
from interp.experiments.audit_task import Question, TaskItems, read_task_file


def task_items(config: AuditConfig) -> TaskItems:
    """The test, control, probe-training and demonstration questions, from the skill or file."""
    n_control = config.probe.n_control if config.probe else 0
    n_train = config.probe.n_items if config.probe else 0
    n_demo = max(
        config.elicitation.n_demonstrations if config.elicitation else 0,
        config.latent.n_demonstrations if config.latent else 0,
    )
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
        "demonstrations (elicitation, latent)": n_demo,
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
