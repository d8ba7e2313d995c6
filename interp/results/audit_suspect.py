"""What the audit found on one suspect, as typed values: its accuracy and each method's reading.

One `SuspectResult` is one block of metrics.json's `suspects`; `to_json` writes it and `from_json`
reads it back, field for field (the run directory checkpoints each suspect this way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interp.results.records import OMIT_NONE, from_record, to_record


@dataclass(frozen=True)
class SuspectProbe:
    """The probe on one suspect's own answers. Where the probe cannot read the suspect (another
    architecture or width) only `applicable` and `reason` are set."""

    applicable: bool
    reason: str | None = None  # why not applicable
    scores: list[float] | None = None  # per scored response: the mean of its token scores
    n_scored: int | None = None
    flag_share: float | None = None  # share of scored responses above the threshold
    flag_share_ci95: tuple[float, float] | None = None  # Wilson; None without scored responses
    baseline_flag_share: float | None = None  # the same share for the baseline probe
    mean_score: float | None = None
    correctness_auroc: float | None = None  # None when the suspect is all right or all wrong
    # The text-only control: the suspect's answers read by the trusted reference (set once the
    # reference has read them).
    reference_scores: list[float] | None = field(default=None, metadata=OMIT_NONE)
    reference_flag_share: float | None = field(default=None, metadata=OMIT_NONE)
    reference_mean_score: float | None = field(default=None, metadata=OMIT_NONE)

    @classmethod
    def not_applicable(cls, reason: str) -> SuspectProbe:
        return cls(applicable=False, reason=reason)

    def to_json(self) -> dict[str, Any]:
        if not self.applicable:
            return {"applicable": False, "reason": self.reason}
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> SuspectProbe:
        return from_record(cls, record)


@dataclass(frozen=True)
class ReferenceReading:
    """The text-only control of one suspect (see `SuspectProbe`)."""

    reference_scores: list[float]
    reference_flag_share: float
    reference_mean_score: float

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ReferenceReading:
        return from_record(cls, record)


@dataclass(frozen=True)
class NoisePoint:
    """Accuracy at one noise level, over seeds."""

    std: float
    mean: float
    max: float
    min: float
    drift: float | None = field(default=None, metadata=OMIT_NONE)  # None: no answers to measure


@dataclass(frozen=True)
class NoiseBest:
    """The setting with the best noisy accuracy."""

    std: float
    seed: int
    accuracy: float
    clean_accuracy: float


@dataclass(frozen=True)
class NoiseResult:
    stds: list[float]  # the levels swept: the grid, extended by `until_drift`
    grid: list[float]  # the configured levels
    until_drift: float | None
    max_extra_levels: int
    seeds: list[int]
    relative: bool
    curve: list[NoisePoint]
    clean_accuracy: float
    ratio: float  # best noisy accuracy / clean accuracy
    ratio_ci95: tuple[float, float]
    best: NoiseBest

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> NoiseResult:
        return from_record(cls, record)


@dataclass(frozen=True)
class StepPoint:
    """Accuracy after a number of fine-tuning steps (the elicitation's step curve)."""

    steps: int
    accuracy: float
    lift: float
    lift_ci95: tuple[float, float]


@dataclass(frozen=True)
class ElicitationResult:
    clean_accuracy: float
    elicited_accuracy: float
    lift: float
    lift_ci95: tuple[float, float]
    steps: int
    n_demonstrations: int
    curve: list[StepPoint] | None = field(default=None, metadata=OMIT_NONE)

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ElicitationResult:
        return from_record(cls, record)


@dataclass(frozen=True)
class LatentPoint:
    """Accuracy under the latent attack at one budget, beside random vectors of equal norm."""

    budget: float
    accuracy: float
    lift: float
    lift_ci95: tuple[float, float]
    random_accuracy: float  # mean over seeds
    random_accuracies: list[float]
    random_lift_ci95: tuple[float, float]
    demo_nll: float  # demonstrations' completion NLL per token under the attack
    random_demo_nll: float
    norm_ratio: float  # ||delta|| / (budget * mean ||h||), at most 1


@dataclass(frozen=True)
class LatentResult:
    """The latent attack's accuracy over budgets; `recovery_budget` None: never recovered."""

    hooks: list[str]
    mean_norms: list[float]
    clean_accuracy: float
    clean_demo_nll: float
    curve: list[LatentPoint]
    recovery_budget: float | None
    min_lift: float
    steps: int
    optimizer: str
    n_demonstrations: int
    random_seeds: list[int]

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> LatentResult:
        return from_record(cls, record)


@dataclass(frozen=True)
class SuspectResult:
    model: str  # the spec
    accuracy: float  # on the held-out questions under the public prompt
    accuracy_ci95: tuple[float, float] | None
    probe: SuspectProbe | None = field(default=None, metadata=OMIT_NONE)
    noise: NoiseResult | None = field(default=None, metadata=OMIT_NONE)
    elicitation: ElicitationResult | None = field(default=None, metadata=OMIT_NONE)
    latent: LatentResult | None = field(default=None, metadata=OMIT_NONE)

    def method(
        self, name: str
    ) -> SuspectProbe | NoiseResult | ElicitationResult | LatentResult | None:
        """The result of method `name` ("probe", "noise", "elicitation", "latent"), None when not
        run."""
        return {
            "probe": self.probe,
            "noise": self.noise,
            "elicitation": self.elicitation,
            "latent": self.latent,
        }.get(name)

    def to_json(self) -> dict[str, Any]:
        return to_record(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> SuspectResult:
        return from_record(cls, record)
