"""What a probe-transfer study found, as typed values: the report reads them by attribute, and
`ProbeTransferResult.to_json` is the run directory's metrics.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from interp.stats import Interval


@dataclass(frozen=True)
class Auroc:
    """An AUROC with its 95% bootstrap interval (resampling whole groups of statements)."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, interval: Interval) -> Auroc:
        return cls(interval.value, interval.low, interval.high)

    def text(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class LayerProbe:
    """One layer of one model: cross-validated on training groups, then tested on held-out ones."""

    layer: int
    hook: str
    cv: Auroc  # logistic probe, folds split by group, on the training statements
    null_p95: float  # 95th percentile of the shuffled-label cross-validation
    p_value: float
    mass_mean_cv: float
    norm_cv: float  # activation norm alone (larger = true), on the training statements
    heldout: Auroc  # probe fitted on every training statement, scored on held-out entities
    heldout_norm: float  # activation norm alone on the held-out statements


@dataclass(frozen=True)
class ModelProbes:
    """Every swept layer of one model, and the layer the training data chose."""

    name: str
    spec: str
    n_layers: int
    d_model: int
    layers: list[LayerProbe]
    best_layer: int  # highest cross-validated AUROC on the training statements
    null_max_p95: float  # the best-of-layers shuffled-label null the chosen layer must clear
    p_value_family: float

    def at(self, layer: int) -> LayerProbe:
        return next(row for row in self.layers if row.layer == layer)

    @property
    def best(self) -> LayerProbe:
        return self.at(self.best_layer)


@dataclass(frozen=True)
class MapCandidate:
    """A (target layer, map) pair scored on training statements only, without target labels:
    how well the map lets the target predict the source probe's score (held-out folds, Pearson r).
    """

    layer: int
    map: str
    agreement: float


@dataclass(frozen=True)
class CarriedLayer:
    """The chosen kind of map at another target layer: reported, never used for the choice."""

    layer: int
    agreement: float
    heldout_auroc: float


@dataclass(frozen=True)
class CarriedProbe:
    """A probe trained on `source` and applied to `target` through a map from target to source."""

    source: str
    target: str
    source_layer: int  # the source probe's layer, chosen by its cross-validation
    target_layer: int  # chosen with the map by agreement on training statements
    depth_layer: int  # the target layer at the same relative depth, for reference
    map: str
    map_rank: int
    agreement: float
    carried: Auroc  # on the target's held-out statements
    source_heldout: Auroc  # the source probe on the source's own held-out statements
    own: Auroc  # a probe trained on the target itself, at its own chosen layer
    own_layer: int
    own_same_layer: Auroc  # a probe trained on the target at target_layer
    carried_minus_own: Auroc  # paired over the same held-out groups
    random_maps: list[float]  # same construction, random maps of equal shape, rank and norm
    random_p95: float
    shuffled_probes: list[float]  # source probes trained on shuffled labels, carried the same way
    shuffled_p95: float
    beats_random: bool  # the carried interval lies above the random maps' 95th percentile
    beats_chance: bool  # the carried interval lies above 0.5
    candidates: list[MapCandidate]
    by_layer: list[CarriedLayer]

    @property
    def random_mean(self) -> float:
        return sum(self.random_maps) / len(self.random_maps)


@dataclass(frozen=True)
class Split:
    """Who went where: groups (and so entities) on one side only."""

    n_train: int
    n_test: int
    n_train_groups: int
    n_test_groups: int
    n_train_entities: int
    n_test_entities: int
    n_align: int  # extra shared texts the maps were fitted on, beside the training statements
    label_names: tuple[str, str]  # class 0, class 1
    test_groups: list[str]


@dataclass(frozen=True)
class ProbeTransferResult:
    config: dict[str, Any]
    split: Split
    models: list[ModelProbes]
    transfers: list[CarriedProbe]

    def model(self, name: str) -> ModelProbes:
        return next(m for m in self.models if m.name == name)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        for transfer, raw in zip(self.transfers, record["transfers"], strict=True):
            raw["random_mean"] = transfer.random_mean
        return record

    def summary(self) -> dict[str, Any]:
        """One line for a machine: each direction's carried AUROC beside its controls."""
        return {
            f"{t.source}->{t.target}": {
                "carried": t.carried.value,
                "carried_ci95": [t.carried.low, t.carried.high],
                "own": t.own.value,
                "random_p95": t.random_p95,
                "shuffled_p95": t.shuffled_p95,
                "beats_random": t.beats_random,
            }
            for t in self.transfers
        }
