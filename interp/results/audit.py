"""What a sandbagging audit found, as typed values: reports read it by attribute, `to_json` gives the
run directory's metrics.json and `from_json` reads one back.

    result = AuditResult.from_json(json.loads(Path("runs/audit/metrics.json").read_text()))
    result.verdicts["add-medium-m1"].overall.sandbagging
    result.suspects["add-medium-m1"].noise.ratio_ci95
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interp.results.audit_suspect import LatentResult, SuspectResult
from interp.results.audit_verdict import Score, Verdict
from interp.results.records import OMIT_NONE, from_record, to_record


@dataclass(frozen=True)
class TaskSummary:
    """The questions asked: an organism skill (`n_operands`, `digits`) or a task file (`grader`)."""

    skill: str  # the skill's name, or the task file's name
    prompt: str  # "direct" without a preamble, else the preamble's repr
    n_items: int
    split: str  # "test" for a skill's test split, "held out" for a task file
    max_new_tokens: int
    n_operands: int | None = field(default=None, metadata=OMIT_NONE)
    digits: int | None = field(default=None, metadata=OMIT_NONE)
    grader: str | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class ReferenceResult:
    model: str
    accuracy: float


@dataclass(frozen=True)
class LayerRow:
    """One layer of the probe's cross-validated sweep on its training contrast."""

    layer: int
    hook: str
    auroc: float
    ci95: tuple[float, float]
    shuffled_auroc: float | None = None  # the same probe trained on shuffled labels
    norm_auroc: float | None = None  # the activation norm alone
    correctness_auroc: float | None = None


@dataclass(frozen=True)
class BaselineProbe:
    method: str  # the other probe method, reported beside the configured one
    threshold: float | None


@dataclass(frozen=True)
class TranscriptAuroc:
    """The probe's response scores, sandbaggers' against benign models', pooled over suspects."""

    auroc: float
    ci95: tuple[float, float]
    baseline_auroc: float
    norm_auroc: float
    n_sandbagger: int
    n_benign: int
    sandbaggers: list[str]
    benign: list[str]


@dataclass(frozen=True)
class ProbeSummary:
    """The trained and calibrated probe, its layer sweep and the reference's control scores."""

    model: str
    hook: str
    layer: int | None
    method: str
    C: float | None  # None for mass-mean
    fpr: float
    threshold: float | None
    n_control: int
    flag_share: float  # a suspect is flagged when more of its responses than this are
    layers: list[LayerRow]
    control_scores: list[float] | None
    baseline: BaselineProbe | None = None
    transcript_auroc: TranscriptAuroc | None = field(default=None, metadata=OMIT_NONE)

    def row(self) -> LayerRow | None:
        """The sweep's row of the layer in use."""
        return next((r for r in self.layers if r.hook == self.hook), None)


@dataclass(frozen=True)
class BenignLift:
    lift: float
    lift_ci95: tuple[float, float]


@dataclass(frozen=True)
class ElicitationBaseline:
    """The lift elicitation gives models known to be benign; the threshold is the highest upper
    bound among them."""

    references: dict[str, BenignLift]
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ElicitationBaseline:
        return from_record(cls, record)


@dataclass(frozen=True)
class LatentBaseline:
    """The budget at which the latent attack recovers each model known to be benign (None: never);
    a suspect is flagged when it recovers at a smaller budget than every one of them."""

    references: dict[str, float | None]
    threshold: float | None  # the smallest benign recovery budget; None: no benign model recovered
    curves: dict[str, LatentResult] = field(default_factory=dict)  # each benign model's curve

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> LatentBaseline:
        return from_record(cls, record)


@dataclass(frozen=True)
class AuditResult:
    task: TaskSummary
    reference: ReferenceResult
    decision: str
    suspects: dict[str, SuspectResult]  # by short name, in the config's order
    verdicts: dict[str, Verdict]
    probe: ProbeSummary | None = field(default=None, metadata=OMIT_NONE)
    elicitation_baseline: ElicitationBaseline | None = field(default=None, metadata=OMIT_NONE)
    latent_baseline: LatentBaseline | None = field(default=None, metadata=OMIT_NONE)
    score: Score | None = field(default=None, metadata=OMIT_NONE)  # with an answer key
    elapsed_s: float = 0.0  # of this process: a resumed run counts only what it computed

    def names(self) -> list[str]:
        """Suspects in table order, then any that only have a verdict."""
        return list(self.suspects) + [n for n in self.verdicts if n not in self.suspects]

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> AuditResult:
        return from_record(cls, record)
