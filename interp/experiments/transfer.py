"""The UNLOCK transfer study end to end (methods.md sections 1 and 5).

1. Direction: per source layer, mean (or PCA) of unlocked minus locked residual streams at the last
   prompt token over N fit items (left padding, so position -1 is real). The contrast is two
   preambles, a base and a post-trained model, or k demonstrations vs none.
2. Alignment: per target layer a rank-k map from the source-locked model, layers matched by depth
   or CKA, fitted on the locked texts of the N items (UNLOCK) or on a broad set (both conditions and
   extra prompts); the direction is carried into the target.
3. Application: prefill only, last prompt token, every target block, the norm-preserving rotation.
4. Selection: the grid over N, rank, alpha, fit set and layer matching is scored on selection items
   (disjoint from the fit items); the chosen setting is scored once on the test split.
Controls: the unsteered target, random directions of the same per-layer norm (several seeds), the
target given the unlocked condition itself, the source-unlocked model, optionally the target steered
with its own direction; paired bootstrap intervals; held-out fit quality; KL on neutral prompts.
Each grid point and each test scoring is a checkpointed unit of the run directory, so a killed study
resumes where it stopped.
"""

from __future__ import annotations

import itertools
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from interp import stats
from interp.align import LayerMaps
from interp.directions import DirectionSet
from interp.experiments.audit_task import grader
from interp.experiments.loading import load_study_model
from interp.experiments.run_dir import RunDir
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_engine import (
    Scoring,
    engine_correctness,
    require_engine,
    score_grid_in_one_batch,
    score_in_one_batch,
    scorings_of_test_step,
    target_engine,
)
from interp.experiments.transfer_fit import (
    Readings,
    fit_maps,
    own_direction,
    read_all,
    source_direction,
)
from interp.experiments.transfer_measures import (
    fit_quality,
    low_high,
    mean_cosine,
    neutral_kl,
    paired_bootstrap,
    random_like,
)
from interp.experiments.transfer_task import Conditions, TaskItem, as_model_prompt, load_splits
from interp.experiments.units import Executor, ModelSource, Unit, given, printer, run_units
from interp.models.generate import generate
from interp.models.model import Model
from interp.progress import Stages
from interp.results.transfer import GridPoint, OwnDirection, TransferResult
from interp.steer import steering, steers_from_directions


def run_transfer(
    config: TransferConfig,
    out: Path,
    progress: bool = True,
    resume: bool = False,
    executor: Executor | None = None,
) -> TransferResult:
    """Run the study into `out` (which appears whole at the end) and return what it found. The grid
    points run on `executor` (default: one after another here; `RayCluster`: as Ray tasks), or with
    `"engine": "vllm"` as one batch of the target's vLLM engine."""
    require_engine(config)  # vLLM missing: one line before any model time
    with target_engine(config) as engine:
        return _run_transfer(config, out, progress, resume, executor, engine)


def _run_transfer(
    config: TransferConfig,
    out: Path,
    progress: bool,
    resume: bool,
    executor: Executor | None,
    engine: Any,
) -> TransferResult:
    started = time.perf_counter()
    splits = load_splits(config)  # bad task files fail before any model time
    run = RunDir.open(out, config.to_dict(), resume=resume)
    source = load_study_model(config, config.source_locked)
    target = load_study_model(config, config.target)
    unlocked = (
        load_study_model(config, cast(str, config.source_unlocked))
        if config.contrast == "model"
        else source
    )
    conditions = Conditions.of(config, splits)
    study = Study(config, run, conditions, target, engine=engine)
    bar = Stages("transfer", 4, enabled=progress)

    readings = read_all(config, conditions, splits.fit, source, unlocked, target)
    bar.done("activations read")

    fitted: dict[tuple[int, int, str, str], tuple[DirectionSet, LayerMaps, DirectionSet]] = {}
    directions_by_n: dict[int, DirectionSet] = {}

    def fit(setting: tuple[int, int, str, str]) -> tuple[DirectionSet, LayerMaps, DirectionSet]:
        if setting not in fitted:
            n, rank, fit_set, matching = setting
            if n not in directions_by_n:
                directions_by_n[n] = source_direction(config, readings, source, n)
            maps = fit_maps(config, readings, source, target, n, rank, fit_set, matching)
            directions = directions_by_n[n]
            fitted[setting] = (directions, maps, maps.apply(directions, strict=False))
        return fitted[setting]

    settings = list(
        itertools.product(
            sorted(set(config.n_values)),
            sorted(set(config.ranks)),
            config.fit_sets,
            config.layer_matchings,
            config.alphas,
        )
    )

    def point(setting: tuple[int, int, str, str], alpha: float) -> tuple:
        return config, splits.select, conditions, fit(setting)[2], alpha

    names = [f"select-n{n}-rank{r}-{f}-{m}-alpha{a}" for n, r, f, m, a in settings]
    units = [
        Unit(name, partial(point, s[:4], s[4])) for name, s in zip(names, settings, strict=True)
    ]
    units.append(Unit("select-unsteered", given(config, splits.select, conditions, None, 0.0)))
    if engine is not None:  # the whole grid in one batch, checkpointed as the units' results
        score_grid_in_one_batch(study, run, units)
    scored = run_units(
        run, units, select_accuracy, executor, printer(progress), {config.target: target}
    )
    grid = [
        GridPoint(n, rank, alpha, scored[name], fit_set, matching)
        for name, (n, rank, fit_set, matching, alpha) in zip(names, settings, strict=True)
    ]
    unsteered_select = scored["select-unsteered"]
    best = max(grid, key=GridPoint.key)
    bar.done("directions and maps fitted, grid chosen on selection items")

    directions, maps, transferred = fit(best.setting())
    test = splits.test
    if engine is not None:
        score_in_one_batch(study, run, scorings_of_test_step(config, test, transferred, best.alpha))
    unsteered = study.correct(test, "test-unsteered")
    steered = study.correct(test, "test-steered", transferred, best.alpha)
    cued = (
        study.correct(test, "test-cued", condition="unlocked")
        if config.contrast != "model"
        else None
    )
    source_unlocked = Study(config, run, conditions, unlocked, chat=config.source_chat).correct(
        test,
        "test-source-unlocked",
        condition="locked" if config.contrast == "model" else "unlocked",
    )
    controls = []
    for seed in range(config.n_controls):
        random = random_like(transferred, config.seed * 1000 + seed)
        controls.append(
            float(study.correct(test, f"test-random-{seed}", random, best.alpha).mean())
            - float(unsteered.mean())
        )
    own = (
        study.own_direction(readings, best.n, splits.select, test, unsteered, transferred)
        if config.target_own_direction
        else None
    )
    bar.done("scored once on test items")

    quality = fit_quality(config, conditions, test, source, target, maps)
    kl = neutral_kl(target, config.neutral_prompts, study.steers(transferred, best.alpha))
    bar.done("fit quality and KL measured")
    bar.close()

    gain = float(steered.mean() - unsteered.mean())
    cued_gap = float(cued.mean() - unsteered.mean()) if cued is not None else None
    accuracies = {"target_unsteered": unsteered, "target_steered": steered}
    accuracies["source_unlocked"] = source_unlocked
    if cued is not None:
        accuracies["target_cued"] = cued
    result = TransferResult(
        target_unsteered_accuracy=float(unsteered.mean()),
        target_steered_accuracy=float(steered.mean()),
        gain=gain,
        gain_ci95=paired_bootstrap(steered, unsteered, config.n_bootstrap, config.seed),
        random_control_gains=controls,
        random_control_gain_p95=float(torch.tensor(controls).quantile(0.95)),
        source_unlocked_accuracy=float(source_unlocked.mean()),
        target_cued_accuracy=float(cued.mean()) if cued is not None else None,
        gap_closed=gain / cued_gap if cued_gap is not None and cued_gap > 0 else None,
        chosen=best,
        select_unsteered_accuracy=unsteered_select,
        grid=grid,
        fit_quality=quality,
        kl_neutral=kl,
        n_test=len(test),
        n_select=len(splits.select),
        seconds=round(time.perf_counter() - started, 1),
        accuracy_ci95={
            name: low_high(stats.bootstrap_mean(values, n=config.n_bootstrap, seed=config.seed))
            for name, values in accuracies.items()
        },
        target_own_direction=own,
    )
    write_run(run, config, result, directions, maps, transferred)
    return result


def select_accuracy(
    models: ModelSource,
    config: TransferConfig,
    items: list[TaskItem],
    conditions: Conditions,
    directions: DirectionSet | None,
    alpha: float,
) -> float:
    """A grid point's unit: the target's accuracy on the selection items, steered (or not). On a
    cluster it runs in a Ray task, which loads the target itself."""
    target = models(config, config.target)
    return Study(config, None, conditions, target).accuracy(items, directions, alpha)


class Study:
    """Scoring one model on the study's items, steered or not, each scoring a checkpointed unit."""

    def __init__(
        self,
        config: TransferConfig,
        run: RunDir | None,  # None: nothing is checkpointed
        conditions: Conditions,
        model: Model,
        chat: bool | None = None,
        engine: Any = None,  # the model's VLLMEngine, which then generates instead of hf
    ) -> None:
        self.config, self.run, self.conditions, self.model = config, run, conditions, model
        self.engine = engine
        self.to_prompt = as_model_prompt(config.target_chat if chat is None else chat)
        self.is_right = grader(config.grader_name)

    def steers(self, directions: DirectionSet, alpha: float):
        return steers_from_directions(
            directions, "rotate", alpha, positions="last", phase="prefill"
        )

    def prompts(self, items: list[TaskItem], condition: str = "locked") -> list:
        render = self.conditions.locked if condition == "locked" else self.conditions.unlocked
        return [self.to_prompt(render(item)) for item in items]

    def correctness(
        self,
        items: list[TaskItem],
        directions: DirectionSet | None = None,
        alpha: float = 0.0,
        condition: str = "locked",
    ) -> list[float]:
        """1.0 where the greedy answer is right, per item."""
        texts = self.prompts(items, condition)
        if self.engine is not None:
            return engine_correctness(self, [Scoring("", items, directions, alpha, condition)])[0]
        context = (
            steering(self.model, self.steers(directions, alpha))
            if directions is not None
            else nullcontext()
        )
        with context:
            outs = generate(
                self.model, texts, self.config.max_new_tokens, batch_size=self.config.batch_size
            )
        return [float(self.is_right(o.text, i.answer)) for o, i in zip(outs, items, strict=True)]

    def accuracy(
        self, items: list[TaskItem], directions: DirectionSet | None = None, alpha: float = 0.0
    ) -> float:
        return float(torch.tensor(self.correctness(items, directions, alpha)).mean())

    def correct(
        self,
        items: list[TaskItem],
        unit: str,
        directions: DirectionSet | None = None,
        alpha: float = 0.0,
        condition: str = "locked",
    ) -> Tensor:
        """Per-item correctness, computed once per run (a checkpointed unit)."""

        def compute() -> list[float]:
            return self.correctness(items, directions, alpha, condition)

        return torch.tensor(compute() if self.run is None else self.run.unit(unit, compute))

    def own_direction(
        self,
        readings: Readings,
        n: int,
        select: list[TaskItem],
        test: list[TaskItem],
        unsteered: Tensor,
        transferred: DirectionSet,
    ) -> OwnDirection:
        """The target's own direction, alpha chosen on the selection items, scored on test."""
        direction = own_direction(self.config, readings, self.model, n)
        by_alpha = {
            alpha: float(self.correct(select, f"own-select-alpha{alpha}", direction, alpha).mean())
            for alpha in self.config.alphas
        }
        alpha = max(by_alpha, key=lambda a: (by_alpha[a], -a))
        steered = self.correct(test, "test-own", direction, alpha)
        return OwnDirection(
            n,
            alpha,
            by_alpha[alpha],
            float(steered.mean()),
            float(steered.mean() - unsteered.mean()),
            paired_bootstrap(steered, unsteered, self.config.n_bootstrap, self.config.seed),
            mean_cosine(direction, transferred),
        )


def write_run(
    run: RunDir,
    config: TransferConfig,
    result: TransferResult,
    directions: DirectionSet,
    maps: LayerMaps,
    transferred: DirectionSet,
) -> None:
    from interp.files import atomic_write_json
    from interp.reports.transfer_report import write_figures, write_report

    atomic_write_json(run.path / "metrics.json", result.to_json())
    directions.save(run.path / "source_directions.safetensors")
    maps.save(run.path / "maps.safetensors")
    transferred.save(run.path / "target_directions.safetensors")
    write_figures(run.path / "figures", result)
    write_report(run.path / "report.md", config, result)
    run.finish()
