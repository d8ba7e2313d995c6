"""One suspect, audited: its answers under the public prompt, then every configured method.

The result is the audit's unit of work, checkpointed whole (`SuspectUnit`): a killed audit resumes
at the first suspect it had not finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from interp.experiments.audit_answers import Transcripts, answer, graded
from interp.experiments.audit_config import AuditConfig
from interp.experiments.audit_engine import answerer
from interp.experiments.audit_latent import latent_result
from interp.experiments.audit_methods import elicitation_result, noise_result
from interp.experiments.audit_probe import TrainedProbe, probe_suspect
from interp.experiments.audit_task import TaskItems
from interp.experiments.loading import load_study_model
from interp.probes import bootstrap_ci
from interp.results.audit_suspect import SuspectResult
from interp.results.records import from_record, to_record


@dataclass(frozen=True)
class SuspectUnit:
    """A suspect's checkpoint: its result, its answers (the reference reads them once every suspect
    is done) and, where the probe read it, the per-response scores of the baseline probe and of the
    activation norm (the controls of the pooled transcript AUROC)."""

    result: SuspectResult
    responses: list[str]
    baseline_scores: list[float] | None = None
    norm_scores: list[float] | None = None

    def transcripts(self, items: TaskItems, config: AuditConfig) -> Transcripts:
        return graded(items.test, config.preamble, self.responses, config)

    def controls(self) -> dict[str, Tensor] | None:
        if self.baseline_scores is None or self.norm_scores is None:
            return None
        return {
            "baseline": torch.tensor(self.baseline_scores),
            "norm": torch.tensor(self.norm_scores),
        }

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> SuspectUnit:
        return from_record(cls, record)


def audit_suspect(
    spec: str,
    config: AuditConfig,
    items: TaskItems,
    trained: TrainedProbe | None,
    log: Callable[[str], None],
) -> SuspectUnit:
    """Every configured method on the model `spec`, answering on the configured engine."""
    model = load_study_model(config, spec)
    with answerer(config, spec, model) as who:
        transcripts = answer(who, items.test, config.preamble, config)
        ci = bootstrap_ci(
            lambda x: x.mean(), transcripts.correct, n=config.n_bootstrap, seed=config.seed
        )
        log(f"  accuracy {transcripts.accuracy:.3f}")
        probe = controls = None
        if trained is not None:
            probe, controls = probe_suspect(trained, model, transcripts, config)
            if probe.applicable:
                log(f"  probe: {probe.flag_share:.2f} of responses above the threshold")
            else:
                log(f"  probe: not applicable ({probe.reason})")

        def evaluate(_module=None) -> Tensor:  # under noise or after fine-tuning
            return answer(who, items.test, config.preamble, config, changed=True).correct

        def evaluate_hooked() -> Tensor:  # under the latent attack's hooks, which live on hf
            return answer(model, items.test, config.preamble, config).correct

        noise = None
        if config.noise is not None:
            noise = noise_result(model, transcripts, config, evaluate)
            lo, hi = noise.ratio_ci95
            log(f"  noise: improvement ratio {noise.ratio:.2f} (95% CI {lo:.2f} to {hi:.2f})")
        elicitation = None
        if config.elicitation is not None:
            elicitation = elicitation_result(model, items, config, evaluate, transcripts.correct)
            lo, hi = elicitation.lift_ci95
            log(f"  elicitation: lift {elicitation.lift:+.3f} (95% CI {lo:+.3f} to {hi:+.3f})")
        latent = None
        if config.latent is not None:
            latent = latent_result(model, items, config, evaluate_hooked, transcripts.correct)
            log(f"  latent: recovers at budget {latent.recovery_budget}")
        result = SuspectResult(
            spec, transcripts.accuracy, (ci.low, ci.high), probe, noise, elicitation, latent
        )
        return SuspectUnit(
            result,
            transcripts.responses,
            [float(s) for s in controls["baseline"]] if controls is not None else None,
            [float(s) for s in controls["norm"]] if controls is not None else None,
        )
