"""Aggregators: turn a contrast (positive vs negative activations) into one direction.

Every aggregator has the same signature, so methods swap by name::

    fn(positive: Float[Tensor, "n d_model"], negative: Float[Tensor, "n d_model"]) -> Float[Tensor, " d_model"]

Paired methods (`mean_difference`, `pca_of_differences`) need row i of `positive` and row i of
`negative` to come from the same item; `class_mean_difference` takes two unpaired sets of any sizes.
Arithmetic runs in float64 and the result comes back in the inputs' dtype (at least float32).

`AGGREGATORS` maps a method name to its function.

>>> direction = AGGREGATORS["mean_difference"](unlocked_rows, locked_rows)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InterpError
from interp.probes.fit import fit_logistic_probe

Aggregator = Callable[[Tensor, Tensor], Tensor]


def mean_difference(
    positive: Float[Tensor, "n d_model"], negative: Float[Tensor, "n d_model"]
) -> Float[Tensor, " d_model"]:
    """Mean over items of the paired difference: `d = (1/N) sum_i (pos_i - neg_i)`.

    The UNLOCK direction (methods.md section 1, step 1) and the CAA / refusal difference of means.

    >>> mean_difference(torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    tensor([1., 0.])
    """
    pos, neg = _paired(positive, negative, "mean_difference")
    return (pos - neg).mean(dim=0).to(_out_dtype(positive))


def pca_of_differences(
    positive: Float[Tensor, "n d_model"], negative: Float[Tensor, "n d_model"]
) -> Float[Tensor, " d_model"]:
    """Top principal direction of the paired differences, with its sign fixed by the mean difference.

    `D_i = pos_i - neg_i`; `D_c = D - mean(D)`; `v` = top right singular vector of `D_c` (unit norm);
    `v <- -v` when `v . mean(D) < 0`, so the direction points from negative towards positive (the
    official UNLOCK code leaves the SVD's arbitrary sign, a known weakness; RepE fixes it by labels).
    Needs at least two pairs: one centred difference is zero.

    >>> pca_of_differences(unlocked_rows, locked_rows).norm()   # doctest: +SKIP
    tensor(1.)
    """
    pos, neg = _paired(positive, negative, "pca_of_differences")
    if pos.shape[0] < 2:
        raise InterpError(
            "pca_of_differences needs at least 2 pairs (one centred difference is all zeros)",
            fix="pass more items, or use method 'mean_difference'",
        )
    diffs = pos - neg  # (N, d)
    mean = diffs.mean(dim=0)
    _, _, vh = torch.linalg.svd(diffs - mean, full_matrices=False)
    top = vh[0]  # (d,) unit norm
    if torch.dot(top, mean) < 0:
        top = -top
    return top.to(_out_dtype(positive))


def class_mean_difference(
    positive: Float[Tensor, "n_pos d_model"], negative: Float[Tensor, "n_neg d_model"]
) -> Float[Tensor, " d_model"]:
    """Difference of class means for unpaired sets: `d = mean(positive) - mean(negative)`.

    The mass-mean probe direction; the two sets may differ in size.

    >>> class_mean_difference(torch.ones(3, 2), torch.zeros(5, 2))
    tensor([1., 1.])
    """
    pos, neg = _checked(positive, negative, "class_mean_difference")
    return (pos.mean(dim=0) - neg.mean(dim=0)).to(_out_dtype(positive))


def probe_weights(
    positive: Float[Tensor, "n_pos d_model"], negative: Float[Tensor, "n_neg d_model"]
) -> Float[Tensor, " d_model"]:
    """The weight of a logistic-regression probe (standardized features, L2 with C = 0.1, no
    intercept), carried back to raw activation space: the direction the probe reads.

    The scale is the probe's, not the activations'; normalise before steering with it.
    """
    pos, neg = _checked(positive, negative, "probe_weights")
    rows = torch.cat([pos, neg]).double()
    labels = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    weight, _ = fit_logistic_probe(rows, labels).effective_weight()
    return weight.to(_out_dtype(positive))


AGGREGATORS: dict[str, Aggregator] = {
    "mean_difference": mean_difference,
    "pca_of_differences": pca_of_differences,
    "class_mean_difference": class_mean_difference,
    "probe_weights": probe_weights,
}

# Methods whose rows must pair up item by item (the builder counts items accordingly).
PAIRED = {"mean_difference", "pca_of_differences"}


def get_aggregator(method: str) -> Aggregator:
    """The aggregator registered under `method`, or a clear error naming the known ones."""
    try:
        return AGGREGATORS[method]
    except KeyError:
        raise InterpError(
            f"unknown direction method {method!r}", fix=f"use one of {', '.join(AGGREGATORS)}"
        ) from None


# ---- input checks ------------------------------------------------------------------------


def _checked(positive: Tensor, negative: Tensor, name: str) -> tuple[Tensor, Tensor]:
    for label, rows in (("positive", positive), ("negative", negative)):
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise InterpError(
                f"{name}: {label} activations have shape {tuple(rows.shape)}, not (rows, d_model)",
                fix="pass one row per item, e.g. captured.activations[hook]",
            )
    if positive.shape[1] != negative.shape[1]:
        raise InterpError(
            f"{name}: positive rows are {positive.shape[1]} wide but negative rows are "
            f"{negative.shape[1]} wide",
            fix="read both sets at the same hook of the same model",
        )
    return positive.double(), negative.double()


def _paired(positive: Tensor, negative: Tensor, name: str) -> tuple[Tensor, Tensor]:
    pos, neg = _checked(positive, negative, name)
    if pos.shape[0] != neg.shape[0]:
        raise InterpError(
            f"{name} pairs rows item by item, but there are {pos.shape[0]} positive and "
            f"{neg.shape[0]} negative rows",
            fix="capture both sides of the contrast for the same items, or use "
            "'class_mean_difference' for unpaired sets",
        )
    return pos, neg


def _out_dtype(rows: Tensor) -> torch.dtype:
    # Half-precision captures come back as float32: directions are small and exactness matters.
    return torch.promote_types(rows.dtype, torch.float32)
