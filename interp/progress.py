"""Progress on long work: a bar on a terminal, one line per stage anywhere else (a CI log, a pipe),
so that nothing long looks hung and nothing floods a log with redrawn bars.

    for batch in track(batches, "capture", unit="batch"):   # bar, or start and end lines
        ...
    with stage("fit the maps"):                               # one line when it starts, one when done
        ...
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def plural(noun: str, count: int) -> str:
    """`noun` as it reads after `count`: 1 batch, 2 batches, 3 prompts."""
    if count == 1:
        return noun
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def say(message: str) -> None:
    print(f"interp: {message}", file=sys.stderr, flush=True)


def track(
    items: Iterable[T],
    desc: str,
    *,
    unit: str = "it",
    total: int | None = None,
    enabled: bool = True,
) -> Iterator[T]:
    """`items`, reporting progress: a tqdm bar on a terminal; otherwise a line with the count when
    it starts and one with the time when it ends."""
    if not enabled:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if on_terminal():
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=desc, unit=unit, total=total)
        return
    started = time.perf_counter()
    say(f"{desc}: {total} {plural(unit, total)}" if total is not None else desc)
    yield from items
    say(f"{desc}: done in {time.perf_counter() - started:.1f} s")


@contextmanager
def stage(desc: str, *, enabled: bool = True) -> Iterator[None]:
    """One line when a stage starts and one when it ends, with its time."""
    if not enabled:
        yield
        return
    started = time.perf_counter()
    say(f"{desc} ...")
    yield
    say(f"{desc}: done in {time.perf_counter() - started:.1f} s")


class Stages:
    """A run of known stages: a bar on a terminal; elsewhere a line as each stage finishes."""

    def __init__(self, desc: str, total: int, *, enabled: bool = True) -> None:
        self.desc, self.total, self.enabled = desc, total, enabled
        self.finished = 0
        self.started = self.last = time.perf_counter()
        self.bar = None
        if enabled and on_terminal():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc)

    def done(self, what: str) -> None:
        """Stage `what` has finished."""
        self.finished += 1
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update()
        elif self.enabled:
            say(f"{self.desc} {self.finished}/{self.total}: {what} ({now - self.last:.1f} s)")
        self.last = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
