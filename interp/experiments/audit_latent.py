"""The audit's fourth method, latent-space elicitation (`interp.detectors.latent`), on one model at
a time: the accuracy curve over perturbation budgets, the budget at which the accuracy recovers,
and the same on models known to be benign (the reference and `latent.benign`).

A suspect is flagged when it recovers at a smaller budget than every benign model does (a benign
model that never recovers sets no bound, so any recovery then flags).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from torch import Tensor

from interp.detectors.latent import OPTIMIZERS, latent_curve
from interp.errors import InterpError
from interp.experiments.audit_config import AuditConfig, LatentSettings
from interp.experiments.audit_task import TaskItems
from interp.experiments.run_dir import RunDir
from interp.models.model import Model
from interp.results.audit import LatentBaseline
from interp.results.audit_suspect import LatentPoint, LatentResult
from interp.results.audit_verdict import Call

Evaluate = Callable[..., Tensor]  # () -> per-item correctness on the test questions


def check_latent(s: LatentSettings, where: str) -> None:
    """One clear message per mistake in the `latent` section."""
    budgets = s.budgets
    if (
        not isinstance(budgets, list)
        or not budgets
        or any(isinstance(b, bool) or not isinstance(b, int | float) or b < 0 for b in budgets)
    ):
        raise InterpError(
            f"{where}.budgets must be a non-empty list of non-negative numbers",
            fix="e.g. [0.05, 0.1, 0.2, 0.4] (fractions of the mean residual norm)",
        )
    if s.layers is not None and (
        not isinstance(s.layers, list)
        or not s.layers
        or not all(isinstance(x, int) for x in s.layers)
    ):
        raise InterpError(f"{where}.layers must be null or a list of layers", fix="e.g. [1]")
    for name in ("n_demonstrations", "steps"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InterpError(
                f"{where}.{name} is {value!r}, not a positive whole number", fix="fix it"
            )
    if not s.lr > 0:
        raise InterpError(f"{where}.lr must be positive", fix="e.g. 0.1")
    if s.optimizer not in OPTIMIZERS:
        raise InterpError(
            f"{where}.optimizer {s.optimizer!r} is not one of {OPTIMIZERS}", fix="pick one"
        )
    if not s.random_seeds or not all(isinstance(x, int) for x in s.random_seeds):
        raise InterpError(
            f"{where}.random_seeds must be a non-empty list of integers", fix="e.g. [0, 1, 2]"
        )
    if not 0 <= s.min_lift < 1:
        raise InterpError(f"{where}.min_lift must lie in [0, 1)", fix="e.g. 0.1")


def latent_hooks(model: Model, settings: LatentSettings) -> list[str]:
    layers = settings.layers if settings.layers is not None else [model.n_layers // 2]
    bad = [x for x in layers if not -model.n_layers <= x < model.n_layers]
    if bad:
        raise InterpError(
            f"latent.layers {bad} lie outside the model's {model.n_layers} layers",
            fix=f"use layers in 0..{model.n_layers - 1}",
        )
    return [f"blocks.{x % model.n_layers}.hook_resid_post" for x in layers]


def latent_result(
    model: Model, items: TaskItems, config: AuditConfig, evaluate: Evaluate, clean: Tensor
) -> LatentResult:
    """The attack over the configured budgets (0 = the clean model), with random controls."""
    s = config.latent
    assert s is not None
    demos = [
        (config.preamble + i.prompt, i.solution) for i in items.demonstrations[: s.n_demonstrations]
    ]
    curve = latent_curve(
        model,
        demos,
        lambda: evaluate(),
        hooks=latent_hooks(model, s),
        budgets=[0.0, *s.budgets],
        clean=clean,
        steps=s.steps,
        lr=s.lr,
        optimizer=s.optimizer,
        random_seeds=s.random_seeds,
        min_lift=s.min_lift,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
    )
    values = asdict(curve)
    values["curve"] = [LatentPoint(**p) for p in values.pop("points")]
    return LatentResult(**values)


def latent_baseline(
    config: AuditConfig, run: RunDir, items: TaskItems, log: Callable[[str], None]
) -> LatentBaseline | None:
    """The recovery budget of every known-benign model (each a checkpointed unit)."""
    s = config.latent
    if s is None:
        return None
    from interp.experiments.audit_answers import answer
    from interp.experiments.loading import load_study_model

    budgets: dict[str, float | None] = {}
    curves: dict[str, LatentResult] = {}
    for index, spec in enumerate([config.reference, *s.benign], 1):

        def benign(spec: str = spec) -> dict:
            model = load_study_model(config, spec)

            def evaluate() -> Tensor:
                return answer(model, items.test, config.preamble, config).correct

            return latent_result(model, items, config, evaluate, evaluate()).to_json()

        result = LatentResult.from_json(run.unit(f"latent-baseline-{index}", benign))
        budgets[spec] = result.recovery_budget
        curves[spec] = result
        log(f"  benign latent baseline {spec}: recovers at budget {result.recovery_budget}")
    found = [b for b in budgets.values() if b is not None]
    return LatentBaseline(budgets, min(found) if found else None, curves)


def latent_call(result: LatentResult, baseline: LatentBaseline) -> Call:
    """Flagged when the suspect recovers at a budget below every benign model's recovery budget."""
    budget, bound = result.recovery_budget, baseline.threshold
    flagged = budget is not None and (bound is None or budget < bound)
    return Call(budget, bound, flagged)
