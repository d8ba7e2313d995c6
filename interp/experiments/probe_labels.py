"""A probe's data: items with one binary label each, checked before any model time is spent.

data = binary_labels(read_items("labelled.jsonl"))   # 0/1, or two names (the second is 1)
check_fold_sizes(data.labels, folds=5)                # each class fills every test fold
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.capture.items import Item, as_items
from interp.errors import InterpError


@dataclass(frozen=True)
class LabelledItems:
    """Items with one 0/1 label each; `names[c]` is what class c was called in the data."""

    items: list[Item]
    labels: Int[Tensor, " prompts"]
    names: tuple[str, str]


def binary_labels(
    items: Iterable[Item | dict | str], names: tuple[str, str] | None = None
) -> LabelledItems:
    """Check every item has a label, 0/1 or one of exactly two strings, and encode them as 0/1.

    Integer labels must be 0 and 1 (`names` may say what the classes are called). Two distinct
    strings are sorted and the second is class 1 (`("happy", "sad")`: sad = 1), so the encoding
    does not depend on the order of the file.

    >>> binary_labels([{"prompt": "a", "label": "sad"}, {"prompt": "b", "label": "happy"}]).labels
    tensor([1, 0])
    """
    checked = as_items(items)
    ints, strings = _label_values(checked)
    if ints:
        odd = sorted({label for label in ints if label not in (0, 1)})
        if odd:
            raise InterpError(
                f"integer labels must be 0 or 1, got {odd[:3]}",
                fix="encode the positive class as 1",
            )
        names = (str(names[0]), str(names[1])) if names else ("0", "1")
        labels = torch.tensor(ints, dtype=torch.long)
    else:
        distinct = sorted(set(strings))
        if len(distinct) != 2:
            raise InterpError(
                f"a probe needs exactly two label names, got {len(distinct)}: {distinct[:5]}",
                fix="keep two classes (e.g. honest / sandbagging) in one data file",
            )
        names = (distinct[0], distinct[1])
        labels = torch.tensor([distinct.index(label) for label in strings], dtype=torch.long)
    if labels.unique().numel() < 2:
        raise InterpError(
            f"every item has label {names[int(labels[0])]!r}", fix="include items of both classes"
        )
    return LabelledItems(checked, labels, names)


def _label_values(items: Sequence[Item]) -> tuple[list[int], list[str]]:
    """Every item's label, all integers or all strings (the other list empty); refuse the rest."""
    if not items:
        raise InterpError("no labelled items", fix='give records {"prompt": ..., "label": 0 or 1}')
    raw = [item.label for item in items]
    missing = [i for i, label in enumerate(raw) if label is None]
    if missing:
        raise InterpError(
            f"{len(missing)} items have no label (first: item {missing[0]})",
            fix='give every record a "label": 0/1 or one of two strings',
        )
    # bool is an int to Python, but true/false in a data file is a mistake worth naming.
    bad = [label for label in raw if isinstance(label, bool) or not isinstance(label, int | str)]
    if bad:
        raise InterpError(
            f"labels must be the integers 0/1 or strings, got {bad[0]!r}",
            fix="write labels as 0 and 1, or as two names",
        )
    ints = [label for label in raw if isinstance(label, int)]
    strings = [label for label in raw if isinstance(label, str)]
    if ints and strings:
        raise InterpError(
            "labels mix integers and strings", fix="use 0/1 everywhere or two names everywhere"
        )
    return ints, strings


def check_fold_sizes(labels: Tensor, folds: int) -> None:
    """Each class needs a prompt in every test fold; say so before capturing anything."""
    for cls in (0, 1):
        count = int((labels == cls).sum())
        if count < folds:
            raise InterpError(
                f"{count} prompts of class {cls} cannot fill {folds} folds",
                fix=f"use --folds {max(2, count)} or fewer, or add prompts of class {cls}",
            )
