"""Detection rates of a thresholded probe; the statistics probes report live in `interp.stats`.

    tpr_at_threshold(response_scores, labels, probe.threshold)   # positives strictly above it
    fpr_at_threshold(response_scores, labels, probe.threshold)   # negatives strictly above it

`Interval`, `auroc`, `midranks`, `bootstrap_ci` and `share_interval` (the Wilson interval,
`interp.stats.wilson_interval`) are the `interp.stats` tools, named here for the modules that
import them from `interp.probes`.
"""

from __future__ import annotations

from torch import Tensor

from interp.errors import InterpError
from interp.stats import Interval, auroc, bootstrap_ci, check_scores, midranks
from interp.stats import wilson_interval as share_interval

__all__ = [
    "Interval",
    "auroc",
    "bootstrap_ci",
    "fpr_at_threshold",
    "midranks",
    "share_interval",
    "tpr_at_threshold",
]


def tpr_at_threshold(scores: Tensor, labels: Tensor, threshold: float) -> float:
    """Fraction of positives (label 1) scoring strictly above `threshold`.

    >>> tpr_at_threshold(torch.tensor([0.2, 0.7, 0.9]), torch.tensor([0, 1, 1]), 0.8)
    0.5
    """
    s, y = check_scores(scores, labels)
    if not bool(y.any()):
        raise InterpError(
            "no positive examples to compute a TPR on", fix="include label-1 examples"
        )
    return float((s[y] > threshold).double().mean())


def fpr_at_threshold(scores: Tensor, labels: Tensor, threshold: float) -> float:
    """Fraction of negatives (label 0) scoring strictly above `threshold`."""
    s, y = check_scores(scores, labels)
    if bool(y.all()):
        raise InterpError(
            "no negative examples to compute an FPR on", fix="include label-0 examples"
        )
    return float((s[~y] > threshold).double().mean())
