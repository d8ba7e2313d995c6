"""Directions from contrasts: aggregators (one signature) and the `DirectionSet` value object.

from interp.directions import DirectionSet
ds = DirectionSet.from_contrast(unlocked.activations, locked.activations,
                                method="pca_of_differences", model=model)
"""

from __future__ import annotations

from interp.directions.aggregators import (
    AGGREGATORS,
    Aggregator,
    class_mean_difference,
    get_aggregator,
    mean_difference,
    pca_of_differences,
)
from interp.directions.direction_set import DirectionSet

__all__ = [
    "AGGREGATORS",
    "Aggregator",
    "DirectionSet",
    "class_mean_difference",
    "get_aggregator",
    "mean_difference",
    "pca_of_differences",
]
