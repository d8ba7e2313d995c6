"""What `interp mcqa` returns: per-head accuracies, the head chosen on validation items, and its
test accuracy beside the logit baseline, with intervals."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from interp.stats import Interval


@dataclass(frozen=True)
class HeadAccuracy:
    """One head's readout: options scored by its QK-score or its attention weight."""

    layer: int
    head: int
    score: str  # "qk" or "attention"
    validation: float
    test: float

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head} {self.score}"


@dataclass(frozen=True)
class MCQAResult:
    config: dict[str, Any]
    model: str
    source: str  # "facts" or "questions"
    n_questions: int
    n_items: int  # questions times rotations
    n_validation: int  # items
    n_test: int
    chance: float
    chosen: HeadAccuracy  # best on validation (ties: lowest layer, head, qk first)
    head_test: Interval  # the chosen head's test accuracy
    logit_test: Interval  # the logit baseline's test accuracy
    gain: Interval  # head minus logits, paired, resampling whole questions
    logit_validation: float
    mean_head_test: float  # control: the average head of the same score kind
    oracle: HeadAccuracy  # best on test: an upper bound no honest readout reaches
    heads: list[HeadAccuracy] = field(default_factory=list)
    facts_checked: int | None = None  # facts: how many were tried in free form
    facts_known: Interval | None = None  # facts: the share completed correctly (Wilson)

    def beats_logits(self) -> bool:
        """The chosen head is better on test items, with an interval above zero."""
        return self.gain.low > 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("head_test", "logit_test", "gain", "facts_known", "heads")
        }
        for name in ("head_test", "logit_test", "gain"):
            out.update(getattr(self, name).as_dict(name))
        if self.facts_known is not None:
            out.update(self.facts_known.as_dict("facts_known"))
        out["beats_logits"] = self.beats_logits()
        out["heads"] = [asdict(h) for h in self.heads]
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "chosen": self.chosen.name,
            "head_test": round(self.head_test.value, 3),
            "logit_test": round(self.logit_test.value, 3),
            "gain": round(self.gain.value, 3),
            "gain_low": round(self.gain.low, 3),
            "gain_high": round(self.gain.high, 3),
        }
