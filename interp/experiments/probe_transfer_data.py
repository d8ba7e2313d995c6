"""Labelled statements about entities, read for a probe study and split so no entity crosses over.

A statements file is JSON lines, each a capture record (`{"prompt", "label"}`, see
`interp.capture.items`) plus what the split needs:

    {"prompt": "The capital of France is Paris.", "label": "true", "entity": "France",
     "group": "countries-00", "topic": "capital", "object": "Paris"}

`entity` (required) is what the statement is about; `group` (default: the entity) is the unit that
goes wholly to training or to test, a block of entities that lend each other their objects;
`topic`, `object` and `pair` are carried along for reports. A held-out split deals whole groups, so
no entity is on both sides; an entity filed under two groups is refused, since a split by group
could then put it on both.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Int
from torch import Tensor

from interp.capture.items import Item, as_items
from interp.errors import InterpError
from interp.experiments.probe_labels import binary_labels
from interp.probes.grouped import group_codes
from interp.results.probe_transfer import Split

META_FIELDS = ("entity", "group", "topic", "object", "pair")


@dataclass(frozen=True)
class Statements:
    """Items with one 0/1 label, entity and group each; `names[c]` is what class c is called."""

    items: list[Item]
    labels: Int[Tensor, " prompts"]
    names: tuple[str, str]
    entities: tuple[str, ...]
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def group_ids(self) -> Int[Tensor, " prompts"]:
        return group_codes(self.groups)

    def subset(self, index: list[int]) -> Statements:
        return Statements(
            [self.items[i] for i in index],
            self.labels[torch.tensor(index, dtype=torch.long)],
            self.names,
            tuple(self.entities[i] for i in index),
            tuple(self.groups[i] for i in index),
        )


def read_statements(path: str | Path) -> Statements:
    """Read and check a statements file: every record labelled, with an entity; refuse the rest.

    >>> data = read_statements("examples/truth_probe/statements.jsonl")   # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InterpError(f"statements file {path} does not exist", fix="check the path")
    records, entities, groups = [], [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InterpError(
                f"{where} is not valid JSON ({err.msg})", fix="fix that line"
            ) from err
        if not isinstance(record, dict):
            raise InterpError(f"{where} is not a JSON object", fix='write {"prompt": ...}')
        entity = record.get("entity")
        if not isinstance(entity, str) or not entity:
            raise InterpError(
                f"{where} has no entity", fix='give every record an "entity": what it is about'
            )
        group = record.get("group", entity)
        if not isinstance(group, str) or not group:
            raise InterpError(f"{where}: group must be a non-empty string", fix="name its group")
        if "label" not in record:
            raise InterpError(f"{where} has no label", fix='give every record a "label"')
        records.append({k: v for k, v in record.items() if k not in META_FIELDS})
        entities.append(entity)
        groups.append(group)
    if not records:
        raise InterpError(f"statements file {path} holds no statements", fix="write JSON lines")
    labelled = binary_labels(as_items(records))
    data = Statements(
        labelled.items, labelled.labels, labelled.names, tuple(entities), tuple(groups)
    )
    check_entity_groups(data, str(path))
    return data


def check_entity_groups(data: Statements, where: str) -> None:
    """Refuse an entity filed under more than one group (a split by group could divide it)."""
    seen: dict[str, str] = {}
    for entity, group in zip(data.entities, data.groups, strict=True):
        if seen.setdefault(entity, group) != group:
            raise InterpError(
                f"{where}: entity {entity!r} is in groups {seen[entity]!r} and {group!r}, so a "
                "split by group could put it in both training and test",
                fix="file every statement about one entity under one group",
            )


def split_by_group(
    data: Statements, test_fraction: float, seed: int, min_train_groups: int = 2
) -> tuple[Statements, Statements]:
    """(train, test): a seeded share of the groups is held out whole; both sides hold both classes.

    >>> train, test = split_by_group(data, test_fraction=0.4, seed=0)   # doctest: +SKIP
    """
    names = sorted(set(data.groups))
    random.Random(seed).shuffle(names)
    n_test = round(test_fraction * len(names))
    if n_test < 1 or len(names) - n_test < min_train_groups:
        raise InterpError(
            f"{len(names)} groups cannot be split {1 - test_fraction:.0%} / {test_fraction:.0%} "
            f"with at least {min_train_groups} training groups and one test group",
            fix="add statements about more entities (groups), or change test_fraction",
        )
    held_out = set(names[:n_test])
    test = [i for i, g in enumerate(data.groups) if g in held_out]
    train = [i for i, g in enumerate(data.groups) if g not in held_out]
    return check_split(data.subset(train), data.subset(test))


def check_split(train: Statements, test: Statements) -> tuple[Statements, Statements]:
    """Refuse a split that shares an entity between its sides or lacks a class on either side."""
    shared = sorted(set(train.entities) & set(test.entities))
    if shared:
        raise InterpError(
            f"{len(shared)} entities are in both the training and the test statements "
            f"(first: {shared[0]!r})",
            fix="keep every statement about an entity on one side",
        )
    if train.names != test.names:
        raise InterpError(
            f"training labels are {list(train.names)} but test labels {list(test.names)}",
            fix="use the same two label names in both files",
        )
    for side, part in (("training", train), ("test", test)):
        if part.labels.unique().numel() < 2:
            raise InterpError(
                f"the {side} statements hold one class only",
                fix="give both sides true and false statements",
            )
    return train, test


def split_of(train: Statements, test: Statements, n_align: int) -> Split:
    """Who went where, for the result: counts of statements, groups and entities per side."""
    return Split(
        n_train=len(train),
        n_test=len(test),
        n_train_groups=len(set(train.groups)),
        n_test_groups=len(set(test.groups)),
        n_train_entities=len(set(train.entities)),
        n_test_entities=len(set(test.entities)),
        n_align=n_align,
        label_names=train.names,
        test_groups=sorted(set(test.groups)),
    )
