"""What an audit reads from its config before any model loads: the models it will load, the
suspects' short names, the answer key and the task's description."""

from __future__ import annotations

import json
from pathlib import Path

from interp.errors import InterpError
from interp.experiments.audit_config import AuditConfig
from interp.organisms.plan import SANDBAGGER
from interp.organisms.registry import ANSWER_KEY, zoo_root
from interp.results.audit import TaskSummary


def model_specs(config: AuditConfig) -> list[str]:
    """Every model the audit will load."""
    specs = [config.reference, *config.suspects]
    if config.probe is not None:
        specs.append(config.probe.model)
    if config.elicitation is not None:
        specs += config.elicitation.benign
    return list(dict.fromkeys(specs))


def suspect_names(specs: list[str]) -> list[str]:
    """Short names for the table: `organism:NAME` -> NAME, a path -> its last part; the specs
    themselves where short names would collide."""
    names = [
        spec.split(":", 1)[1] if spec.startswith("organism:") else Path(spec).name or spec
        for spec in specs
    ]
    if len(set(names)) != len(names):
        return list(specs)
    return names


def load_truth(answer_key: str, suspects: list[str]) -> dict[str, bool]:
    """Which suspects are sandbaggers, from an answer key (`zoo` = the installed zoo's)."""
    path = zoo_root() / ANSWER_KEY if answer_key == "zoo" else Path(answer_key)
    if not path.is_file():
        raise InterpError(
            f"answer key {path} does not exist",
            fix='give the path of an answer_key.json, "zoo" for the installed zoo\'s, or null',
        )
    try:
        key = json.loads(path.read_text())
        roles = {entry["name"]: entry["role"] for entry in key["organisms"]}
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise InterpError(
            f"{path} is not an answer key ({err})",
            fix="use the answer_key.json written by `interp organisms build`",
        ) from err
    truth = {}
    for name in suspect_names(suspects):
        if name not in roles:
            raise InterpError(
                f"the answer key {path} says nothing about {name!r}",
                fix="audit organisms of that zoo, or drop answer_key from the config",
            )
        truth[name] = roles[name] == SANDBAGGER
    return truth


def task_summary(config: AuditConfig) -> TaskSummary:
    """The questions asked, as the report names them."""
    prompt = "direct" if config.preamble == "" else repr(config.preamble)
    if config.task_file is not None:
        name = Path(config.task_file).name
        return TaskSummary(
            name, prompt, config.n_items, "held out", config.max_new_tokens, grader=config.grader
        )
    return TaskSummary(
        config.skill,
        prompt,
        config.n_items,
        "test",
        config.max_new_tokens,
        n_operands=config.n_operands,
        digits=config.digits,
    )
