"""The sandbagging audit: probe, noise injection and elicitation on each suspect, a verdict table.

    >>> result = run_audit(AuditConfig.from_file("examples/audit_organisms.json"), Path("runs/audit"))  # doctest: +SKIP
    >>> result.verdicts["add-medium-m1"].overall.sandbagging                                            # doctest: +SKIP

Per suspect, on the same held-out questions under the public prompt:
- probe (`audit_probe`): trained on the probe model told to answer honestly or to underperform,
  thresholded on the trusted reference's answers; the statistic is the share of the suspect's
  responses above the threshold, flagged above `flag_share`.
- noise (`audit_methods`): the improvement ratio under weight noise, flagged when its interval lies
  above 1.
- elicitation (`audit_methods`): the accuracy lift from a few fine-tuning steps, flagged when its
  interval lies above every benign model's.
The overall call combines the applicable methods by `decision` (`audit_verdict`); with an answer key
the calls are scored. The run directory (`RunDir`) holds config.json, metrics.json,
probe.safetensors, report.md and figures/; each suspect is checkpointed as it finishes, so a killed
audit continues with `resume=True` (`interp audit --resume`) to the same metrics.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from interp.experiments.audit_answers import answer, check_grader
from interp.experiments.audit_config import AuditConfig
from interp.experiments.audit_engine import answerer, require_engine
from interp.experiments.audit_inputs import load_truth, model_specs, suspect_names, task_summary
from interp.experiments.audit_items import task_items
from interp.experiments.audit_latent import latent_baseline
from interp.experiments.audit_methods import elicitation_baseline
from interp.experiments.audit_probe import (
    TrainedProbe,
    calibrated_probe,
    reference_reading,
    transcript_auroc,
)
from interp.experiments.audit_suspect import SuspectUnit, audit_suspect
from interp.experiments.audit_task import TaskItems
from interp.experiments.audit_verdict import score, verdict
from interp.experiments.loading import load_study_model
from interp.experiments.run_dir import RunDir
from interp.experiments.units import Executor, ModelSource, Unit, given, run_units
from interp.models.specs import resolve_spec
from interp.probes import LinearProbe
from interp.results.audit import (
    AuditResult,
    ElicitationBaseline,
    ProbeSummary,
    ReferenceResult,
)
from interp.results.audit_suspect import ReferenceReading, SuspectResult


def run_audit(
    config: AuditConfig,
    out: Path,
    progress: bool = True,
    resume: bool = False,
    executor: Executor | None = None,
) -> AuditResult:
    """Run every configured method on every suspect into `out` (which appears whole at the end).
    The suspects run on `executor` (default: one after another here; `RayCluster`: as Ray tasks)."""
    for spec in model_specs(config):  # a wrong path fails now, not after hours on the others
        resolve_spec(spec)
    require_engine(config)  # vLLM missing: one line before any model time
    truth = load_truth(config.answer_key, config.suspects) if config.answer_key else None
    items = task_items(config)
    names = suspect_names(config.suspects)
    run = RunDir.open(out, config.to_dict(), resume=resume)
    log = _printer(progress)
    started = time.perf_counter()

    ref_accuracy, trained, summary, baseline = with_reference(config, run, items, log)

    work = [
        Unit(_unit_name("suspect", i, name), given(spec, config, items, trained, log))
        for i, (spec, name) in enumerate(zip(config.suspects, names, strict=True), 1)
    ]
    done = run_units(run, work, audited, executor, log)
    units = {name: SuspectUnit.from_json(done[u.name]) for name, u in zip(names, work, strict=True)}
    suspects = {name: unit.result for name, unit in units.items()}
    probed = {n: s.probe for n, s in suspects.items() if s.probe is not None and s.probe.applicable}
    if trained is not None and probed:
        suspects.update(read_by_reference(config, run, trained, items, units, list(probed), log))

    latent = latent_baseline(config, run, items, log)
    threshold = baseline.threshold if baseline is not None else None
    verdicts = {name: verdict(s, config, threshold, latent) for name, s in suspects.items()}
    scored = None
    if truth is not None:
        scored = score(verdicts, truth)
        if summary is not None:
            scores = {n: probe.scores or [] for n, probe in probed.items()}
            controls = {n: units[n].controls() or {} for n in probed}
            pooled = transcript_auroc(scores, controls, truth, config)
            if pooled is not None:
                summary = replace(summary, transcript_auroc=pooled)
    result = AuditResult(
        task=task_summary(config),
        reference=ReferenceResult(config.reference, ref_accuracy),
        decision=config.decision,
        suspects=suspects,
        verdicts=verdicts,
        probe=summary,
        elicitation_baseline=baseline,
        latent_baseline=latent,
        score=scored,
        elapsed_s=round(time.perf_counter() - started, 1),
    )
    write_run(run, result, trained.probe if trained is not None else None)
    log(f"wrote {out}")
    return result


def audited(
    models: ModelSource,
    spec: str,
    config: AuditConfig,
    items: TaskItems,
    trained: TrainedProbe | None,
    log: Callable[[str], None],
) -> dict:
    """A suspect's unit; on a cluster it runs in a Ray task. The suspect is loaded afresh (not from
    `models`): noise and elicitation change its weights."""
    return audit_suspect(spec, config, items, trained, log).to_json()


def with_reference(
    config: AuditConfig, run: RunDir, items: TaskItems, log: Callable[[str], None]
) -> tuple[float, TrainedProbe | None, ProbeSummary | None, ElicitationBaseline | None]:
    """What the trusted reference gives before any suspect: its accuracy (a task or grader that it
    fails entirely is refused), the probe calibrated on it and the benign elicitation baseline.
    The reference leaves memory on return: the suspects are loaded one at a time."""
    log(f"reference {config.reference}")
    model = load_study_model(config, config.reference)
    with answerer(config, config.reference, model) as reference:
        answers = answer(reference, items.test, config.preamble, config, run, "reference-answers")
        check_grader(config.reference, answers)
        trained = summary = None
        if config.probe is not None:
            trained, summary = calibrated_probe(config, reference, items, run, log)
        baseline = None
        if config.elicitation is not None:

            def benign() -> dict:
                return elicitation_baseline(
                    config, reference, answers.correct, items, log
                ).to_json()

            baseline = ElicitationBaseline.from_json(run.unit("elicitation-baseline", benign))
    return answers.accuracy, trained, summary, baseline


def read_by_reference(
    config: AuditConfig,
    run: RunDir,
    trained: TrainedProbe,
    items: TaskItems,
    units: dict[str, SuspectUnit],
    probed: list[str],
    log: Callable[[str], None],
) -> dict[str, SuspectResult]:
    """The text-only control of every probed suspect (each a checkpointed unit), merged into its
    probe result. The reference is loaded again only when a reading is still to be done."""
    names = {name: _unit_name("reading", i, name) for i, name in enumerate(probed, 1)}
    if all(run.done(unit) for unit in names.values()):
        reference = None
    else:
        log("probe: the suspects' answers read by the reference (the text-only control)")
        reference = load_study_model(config, config.reference)
    merged = {}
    for name, unit in names.items():

        def read(name: str = name) -> dict:
            assert reference is not None
            transcripts = units[name].transcripts(items, config)
            return reference_reading(trained, reference, transcripts, config.batch_size).to_json()

        reading = ReferenceReading.from_json(run.unit(unit, read))
        suspect = units[name].result
        assert suspect.probe is not None
        merged[name] = replace(suspect, probe=replace(suspect.probe, **asdict(reading)))
    return merged


def write_run(run: RunDir, result: AuditResult, probe: LinearProbe | None) -> Path:
    """metrics.json, the probe, report.md and the figures; then the run appears at its place."""
    from interp.files import atomic_write_json
    from interp.reports.audit_report import write_audit_report

    atomic_write_json(run.path / "metrics.json", result.to_json())
    if probe is not None:
        probe.save(run.path / "probe.safetensors")
    write_audit_report(run.path, result)
    return run.finish()


def _unit_name(kind: str, index: int, name: str) -> str:
    """A checkpoint's file name: the position keeps it unique, the name makes it readable."""
    return f"{kind}-{index}-{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}"


def _printer(enabled: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return log
