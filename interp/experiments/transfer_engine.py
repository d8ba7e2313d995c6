"""The transfer study's generation on the vLLM engine (`"engine": "vllm"`).

The target's scorings by greedy generation (grid points, the test step's unsteered, steered, cued
and random-direction scorings, the own-direction alphas) go to one `VLLMEngine` over the target, and
all the requests of one scoring step are submitted as one batch, each prompt with its own steer:
that is what makes the grid cheap. Each scoring is checkpointed under the unit name the hf path
uses, with the same value, so the rest of the study reads it back unchanged. Reading activations
(the source's and the target's), the maps, fit quality and neutral-prompt KL stay on hf.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from interp.engines.availability import require_vllm
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_task import TaskItem

if TYPE_CHECKING:
    from interp.directions import DirectionSet
    from interp.experiments.run_dir import RunDir
    from interp.experiments.transfer import Study
    from interp.experiments.units import Unit


def require_engine(config: TransferConfig) -> None:
    """A missing vLLM is said in one line before any model is loaded."""
    if config.engine == "vllm":
        require_vllm()


@contextmanager
def target_engine(config: TransferConfig) -> Iterator[Any]:
    """The target's `VLLMEngine` for the study's duration, or None on the hf engine."""
    if config.engine != "vllm":
        yield None
        return
    from interp.engines.vllm_engine import VLLMEngine

    with VLLMEngine(config.target, dtype=config.dtype or "float32", seed=config.seed) as engine:
        yield engine


@dataclass(frozen=True)
class Scoring:
    """One checkpointed scoring of the target on `items`, steered by `directions` or not."""

    unit: str
    items: list[TaskItem]
    directions: DirectionSet | None = None
    alpha: float = 0.0
    condition: str = "locked"
    accuracy: bool = False  # grid points keep the mean; test scorings keep per-item correctness


def score_in_one_batch(study: Study, run: RunDir, scorings: Sequence[Scoring]) -> None:
    """Generate every scoring not yet checkpointed in one batch of the study's engine, and checkpoint
    each as the hf path would (same unit name, same value)."""
    todo = [s for s in scorings if not run.done(s.unit)]
    for scoring, right in zip(todo, engine_correctness(study, todo), strict=True):
        run.save(scoring.unit, float(torch.tensor(right).mean()) if scoring.accuracy else right)


def score_grid_in_one_batch(study: Study, run: RunDir, units: Sequence[Unit]) -> None:
    """The grid's units (inputs: config, items, conditions, directions, alpha) in one batch."""
    scorings = []
    for unit in units:
        if not run.done(unit.name):
            _, items, _, directions, alpha = unit.inputs()
            scorings.append(Scoring(unit.name, items, directions, alpha, accuracy=True))
    score_in_one_batch(study, run, scorings)


def engine_correctness(study: Study, scorings: Sequence[Scoring]) -> list[list[float]]:
    """Per scoring, 1.0 where the greedy answer is right, per item; all in one batch of the engine."""
    if not scorings:
        return []
    prompts: list[Any] = []
    steers: list[Any] = []
    for scoring in scorings:
        texts = study.prompts(scoring.items, scoring.condition)
        plan = (
            None
            if scoring.directions is None
            else list(study.steers(scoring.directions, scoring.alpha))
        )
        prompts += texts
        steers += [plan] * len(texts)
    outs = study.engine.generate(prompts, study.config.max_new_tokens, steers=steers)
    results, start = [], 0
    for scoring in scorings:
        chunk = outs[start : start + len(scoring.items)]
        start += len(scoring.items)
        results.append(
            [
                float(study.is_right(o.text, i.answer))
                for o, i in zip(chunk, scoring.items, strict=True)
            ]
        )
    return results


def scorings_of_test_step(
    config: TransferConfig, test: list[TaskItem], transferred: DirectionSet, alpha: float
) -> list[Scoring]:
    """The test step's target scorings: unsteered, steered, cued and the random directions."""
    from interp.experiments.transfer_measures import random_like

    scorings = [Scoring("test-unsteered", test), Scoring("test-steered", test, transferred, alpha)]
    if config.contrast != "model":
        scorings.append(Scoring("test-cued", test, condition="unlocked"))
    for seed in range(config.n_controls):
        random = random_like(transferred, config.seed * 1000 + seed)
        scorings.append(Scoring(f"test-random-{seed}", test, random, alpha))
    return scorings
