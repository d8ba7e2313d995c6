"""Facts the model provably knows: completed correctly in free form before they become questions.

The synthetic set of "Listening to the Wise Few" asks only what the model can answer when not asked
to choose, so a wrong choice is a failure to read out, not ignorance. Here each fact of a task file
(`{"prompt": "France:", "answer": "Paris"}`) is completed greedily after `n_shots` demonstrations
("Japan: Tokyo", one per line, drawn from the same file and never asked) and graded by the task
files' `prefix_folded` grader; only the facts it gets right are asked as multiple choice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from interp.experiments.audit_task import grader, read_task_file
from interp.models.generate import generate
from interp.models.model import Model


@dataclass(frozen=True)
class KnownFacts:
    known: list[tuple[str, str]]  # (prompt, answer) completed correctly
    checked: int  # facts tried in free form
    pool: list[str]  # every answer in the file: the distractors' source
    demonstrations: list[tuple[str, str]]


def known_facts(
    model: Model,
    path: str | Path,
    *,
    n_shots: int,
    max_facts: int | None,
    seed: int,
    progress: bool = False,
) -> KnownFacts:
    facts = [(q.prompt, q.answer) for q in read_task_file(path)]
    random.Random(f"mcqa-known|{seed}").shuffle(facts)
    demonstrations, candidates = facts[:n_shots], facts[n_shots:]
    if max_facts is not None:
        candidates = candidates[:max_facts]
    block = "".join(f"{prompt} {answer}\n" for prompt, answer in demonstrations)
    outs = generate(
        model, [block + prompt for prompt, _ in candidates], max_new_tokens=8, progress=progress
    )
    correct = grader("prefix_folded")
    known = [fact for fact, out in zip(candidates, outs, strict=True) if correct(out.text, fact[1])]
    return KnownFacts(known, len(candidates), [answer for _, answer in facts], demonstrations)
