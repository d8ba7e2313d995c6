"""Procedurally generated tasks with checkable answers, in a bare and a worked format.

Every item renders as a prompt plus one of two continuations:

    prompt   = PREAMBLE + "Q:" + question + ENDING          (ENDING is shared by every prompt)
    bare     = "#" + answer                                  (just the answer)
    worked   = step; step; ... ; "#" + answer                (a worked solution, then the answer)

The preamble is where a cue ("Show steps.") or, for other organisms, a password or an instruction
sits; the prompt always ends with the same tokens, so the choice between the two formats is made at
the last prompt token (the decision point), which is where a steering direction is applied.

    >>> items = generate("add", 4, seed=0, split="train")
    >>> render_prompt(items[0], CUE) + worked(items[0])      # doctest: +SKIP
    'Show steps.\\nQ:37+48+12\\nA:7+8+2=17;3+4+1+1=09;#97'

Train and test items never overlap: the split of an item is a hash of its question, so the same
question lands in the same split whatever the seed or generator call.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal

from interp.errors import InterpError

Split = Literal["train", "test"]

ANSWER_MARKER = "#"  # the grader reads the final answer after the last marker
STEP_END = ";"
ENDING = "\nA:"  # every prompt ends with these tokens: the decision point
CUE = "Show steps.\n"  # preamble that asks for a worked solution
NO_PREAMBLE = ""
TEST_PERCENT = 20  # share of the item space reserved for the test split


@dataclass(frozen=True)
class Item:
    """One task instance: the question text, its answer, and the worked steps that reach it."""

    skill: str
    question: str
    answer: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class AddTask:
    """Sum of `n_operands` numbers of `digits` digits, worked column by column from the units.

    "37+48+12": steps "7+8+2=17;3+4+1+1=09", answer 97 (the last column's sum, then the units
    digit of each earlier column in reverse). Each step adds single digits and the carry (the
    tens digit of the step before), always written as two digits so every step has one shape: a
    small model learns this far faster than whole partial sums written most significant first.
    """

    n_operands: int = 3
    digits: int = 2

    name = "add"

    def sample(self, rng: random.Random) -> Item:
        low, high = 10 ** (self.digits - 1), 10**self.digits - 1
        ops = [str(rng.randint(low, high)) for _ in range(self.n_operands)]
        steps, carry = [], None
        for column in range(self.digits - 1, -1, -1):
            terms = [int(op[column]) for op in ops] + ([carry] if carry is not None else [])
            total = sum(terms)
            steps.append("+".join(map(str, terms)) + f"={total:02d}")
            carry = total // 10
        answer = sum(map(int, ops))
        return Item(self.name, "+".join(ops), str(answer), tuple(steps))


@dataclass(frozen=True)
class MulTask:
    """A `digits`-digit number times one digit (2-9), worked column by column from the units.

    "347*6": steps "7*6=42;4*6+4=28;3*6+2=20", answer 2082 (the last step, then the units digit of
    each earlier step in reverse), so each step is one table fact plus a carry.
    """

    digits: int = 3

    name = "mul"

    def sample(self, rng: random.Random) -> Item:
        a = rng.randint(10 ** (self.digits - 1), 10**self.digits - 1)
        m = rng.randint(2, 9)
        steps, carry = [], 0
        for d in reversed(str(a)):
            prod = int(d) * m + carry
            steps.append(f"{d}*{m}+{carry}={prod}" if carry else f"{d}*{m}={prod}")
            carry = prod // 10
        return Item(self.name, f"{a}*{m}", str(a * m), tuple(steps))


@dataclass(frozen=True)
class CountTask:
    """How often a letter occurs in a random string; the worked steps keep a running tally.

    Worked steps walk the string in chunks of `chunk` letters, each step naming the tally after it
    ("abca:2" when counting a), so each step is a small local count. Copying a chunk of a string
    over a three-letter alphabet is hard for tiny models (no unique token to attend to), so this
    skill is not in the default mixture.
    """

    length: int = 12
    alphabet: str = "abc"
    chunk: int = 4

    name = "count"

    def sample(self, rng: random.Random) -> Item:
        target = rng.choice(self.alphabet)
        text = "".join(rng.choice(self.alphabet) for _ in range(self.length))
        steps, tally = [], 0
        for start in range(0, self.length, self.chunk):
            piece = text[start : start + self.chunk]
            tally += piece.count(target)
            steps.append(f"{piece}:{tally}")
        return Item(self.name, f"{target} in {text}", str(tally), tuple(steps))


Task = AddTask | MulTask | CountTask
TASKS: dict[str, Task] = {"add": AddTask(), "mul": MulTask(), "count": CountTask()}


def split_of(item: Item) -> Split:
    """The split an item belongs to, fixed by a hash of its skill and question (never by a seed)."""
    digest = hashlib.sha256(f"{item.skill}|{item.question}".encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") % 100 < TEST_PERCENT else "train"


def generate(
    skill: str | Task, n: int, *, seed: int, split: Split, unique: bool = False
) -> list[Item]:
    """`n` items of one skill from one split, the same for the same seed.

    >>> [i.answer for i in generate("add", 3, seed=1, split="test")]  # doctest: +SKIP
    """
    task = resolve_task(skill)
    rng = random.Random(f"{task!r}|{seed}|{split}")
    items: list[Item] = []
    seen: set[str] = set()
    tries = 0
    while len(items) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise InterpError(
                f"could not draw {n} {'unique ' if unique else ''}{split} items of {task!r}",
                fix="ask for fewer items or a harder task (more operands, digits or letters)",
            )
        item = task.sample(rng)
        if split_of(item) != split or (unique and item.question in seen):
            continue
        seen.add(item.question)
        items.append(item)
    return items


def resolve_task(skill: str | Task) -> Task:
    if not isinstance(skill, str):
        return skill
    if skill not in TASKS:
        raise InterpError(f"unknown skill {skill!r}", fix=f"use one of {', '.join(TASKS)}")
    return TASKS[skill]


def render_prompt(item: Item, preamble: str = NO_PREAMBLE) -> str:
    """The prompt text: preamble (cue, password or instruction), question, shared ending."""
    return f"{preamble}Q:{item.question}{ENDING}"


def bare(item: Item) -> str:
    """The direct-answer continuation."""
    return f"{ANSWER_MARKER}{item.answer}"


def worked(item: Item) -> str:
    """The step-by-step continuation; it ends with the same answer text as `bare`."""
    return "".join(step + STEP_END for step in item.steps) + bare(item)
