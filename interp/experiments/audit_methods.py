"""The audit's two methods that act on a model's weights, on one model at a time.

- noise: the improvement ratio (best accuracy under weight noise / clean accuracy) and its interval.
  Each setting also records how far the noise moved the model (the drop in likelihood of its own
  clean answers); with `noise.until_drift` the grid is extended per model until that drift is
  reached, so robust models are swept far enough too.
- elicitation: the accuracy lift from a few fine-tuning steps on correct demonstrations, and the
  same lift on models known to be benign (the reference and `elicitation.benign`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from interp.detectors import elicit, noise_sweep
from interp.detectors.noise import MAX_EXTRA_LEVELS
from interp.experiments.audit_answers import Transcripts, answer, answer_drift
from interp.experiments.audit_config import AuditConfig
from interp.experiments.audit_engine import Answerer, answerer
from interp.experiments.audit_task import TaskItems
from interp.experiments.loading import load_study_model
from interp.models.model import Model
from interp.results.audit import BenignLift, ElicitationBaseline
from interp.results.audit_suspect import (
    ElicitationResult,
    NoiseBest,
    NoisePoint,
    NoiseResult,
)

Evaluate = Callable[..., Tensor]  # () -> per-item correctness on the test questions


def noise_result(
    model: Model, transcripts: Transcripts, config: AuditConfig, evaluate: Evaluate
) -> NoiseResult:
    """The noise sweep around the model's clean answers `transcripts`."""
    settings = config.noise
    assert settings is not None
    drift = answer_drift(model, transcripts, config.batch_size)
    sweep = noise_sweep(
        model.hf,
        evaluate,
        settings.stds,
        settings.seeds,
        relative=settings.relative,
        n_bootstrap=config.n_bootstrap,
        bootstrap_seed=config.seed,
        clean=transcripts.correct,
        drift=drift,
        until_drift=settings.until_drift if drift is not None else None,
    )
    return NoiseResult(
        stds=sweep.stds,
        grid=list(settings.stds),
        until_drift=settings.until_drift,
        max_extra_levels=MAX_EXTRA_LEVELS,
        seeds=list(settings.seeds),
        relative=settings.relative,
        curve=[NoisePoint(**row) for row in sweep.accuracy_table()],
        clean_accuracy=float(sweep.clean.mean()),
        ratio=sweep.ratio,
        ratio_ci95=sweep.ratio_ci95,
        best=NoiseBest(**sweep.best),
    )


def elicitation_result(
    model: Model, items: TaskItems, config: AuditConfig, evaluate: Evaluate, clean: Tensor
) -> ElicitationResult:
    """Fine-tune on the demonstrations, answer again, restore the weights."""
    settings = config.elicitation
    assert settings is not None
    demos = [
        (config.preamble + i.prompt, i.solution)
        for i in items.demonstrations[: settings.n_demonstrations]
    ]
    result = elicit(
        model,
        demos,
        lambda m: evaluate(),
        steps=settings.steps,
        lr=settings.lr,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        clean=clean,
        curve_steps=settings.curve_steps,
    )
    curve = list(result.curve)
    return ElicitationResult(
        clean_accuracy=result.clean_accuracy,
        elicited_accuracy=result.elicited_accuracy,
        lift=result.lift,
        lift_ci95=result.lift_ci95,
        steps=result.steps,
        n_demonstrations=result.n_demonstrations,
        curve=curve or None,
    )


def elicitation_baseline(
    config: AuditConfig,
    reference: Answerer,
    reference_correct: Tensor,
    items: TaskItems,
    log: Callable[[str], None],
) -> ElicitationBaseline:
    """The lift the same treatment gives models known to be benign; the threshold is the highest
    upper bound among them."""
    settings = config.elicitation
    assert settings is not None
    references = {}
    for spec in [config.reference, *settings.benign]:
        if spec == config.reference:
            e = benign_lift(reference, items, config, reference_correct)
        else:
            model = load_study_model(config, spec)
            with answerer(config, spec, model) as who:
                e = benign_lift(who, items, config, None)
        references[spec] = BenignLift(e.lift, e.lift_ci95)
        log(f"  benign elicitation baseline {spec}: lift {e.lift:+.3f}")
    threshold = max(r.lift_ci95[1] for r in references.values())
    return ElicitationBaseline(references, threshold)


def benign_lift(
    who: Answerer, items: TaskItems, config: AuditConfig, clean: Tensor | None
) -> ElicitationResult:
    """The elicitation lift of one known-benign model (`clean`: its answers' grades, if known)."""

    def evaluate(_module=None) -> Tensor:
        return answer(who, items.test, config.preamble, config, changed=True).correct

    if clean is None:
        clean = answer(who, items.test, config.preamble, config).correct
    return elicitation_result(who.model, items, config, evaluate, clean)
