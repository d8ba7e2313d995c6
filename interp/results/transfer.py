"""What a transfer study found, as typed values: reports read it by attribute, and `to_json` gives
the run directory's metrics.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GridPoint:
    """One setting of the grid and its accuracy on the selection items."""

    n: int
    rank: int
    alpha: float
    select_accuracy: float
    fit_set: str = "locked"
    layer_matching: str = "depth"

    def key(self) -> tuple[float, ...]:
        """The grid's choice: best accuracy; on a tie the gentler steer (smaller alpha, lower rank),
        more items, then UNLOCK's own fit (locked texts, layers by depth)."""
        return (
            self.select_accuracy,
            -self.alpha,
            -self.rank,
            self.n,
            float(self.fit_set == "locked"),
            float(self.layer_matching == "depth"),
        )

    def setting(self) -> tuple[int, int, str, str]:
        return self.n, self.rank, self.fit_set, self.layer_matching


@dataclass(frozen=True)
class LayerFit:
    """Held-out fit quality of one target layer's map."""

    source_layer: int
    r2: float
    mean_cosine: float


@dataclass(frozen=True)
class OwnDirection:
    """The target steered with its own contrast direction: what steering can do inside it."""

    n: int
    alpha: float  # chosen on the selection items, as the transferred direction's
    select_accuracy: float
    accuracy: float
    gain: float
    gain_ci95: tuple[float, float]
    # Mean over layers of the cosine between this direction and the transferred one: near 1 means
    # the map reproduced the target's own direction (as a fit on its unlocked states can).
    cosine_to_transferred: float = float("nan")


@dataclass(frozen=True)
class TransferResult:
    target_unsteered_accuracy: float
    target_steered_accuracy: float
    gain: float
    gain_ci95: tuple[float, float]
    random_control_gains: list[float]
    random_control_gain_p95: float
    source_unlocked_accuracy: float
    target_cued_accuracy: float | None  # the target given the unlocked condition itself
    gap_closed: float | None
    chosen: GridPoint
    select_unsteered_accuracy: float
    grid: list[GridPoint]
    fit_quality: dict[str, LayerFit]
    kl_neutral: float
    n_test: int
    n_select: int
    seconds: float
    # 95% bootstrap intervals of each accuracy on the test items, by name.
    accuracy_ci95: dict[str, tuple[float, float]] = field(default_factory=dict)
    target_own_direction: OwnDirection | None = None

    @property
    def beats_controls(self) -> bool:
        """The gain's interval excludes zero and the gain exceeds the random directions' p95."""
        return self.gain_ci95[0] > 0 and self.gain > self.random_control_gain_p95

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["gain_ci95"] = list(self.gain_ci95)
        record["accuracy_ci95"] = {k: list(v) for k, v in self.accuracy_ci95.items()}
        if self.target_own_direction is None:
            del record["target_own_direction"]
        else:
            record["target_own_direction"]["gain_ci95"] = list(self.target_own_direction.gain_ci95)
        return record
