"""The decision threshold: a quantile of per-response scores on a benign control set.

A probe flags a response when its mean token score exceeds a threshold chosen so that a stated
fraction `fpr` of benign responses would be flagged (methods.md section 2: the 99th percentile,
1% false positives). Two mistakes this module refuses to make:

- pooling tokens: the quantile is over one score per control response (each response's mean token
  score), never over token scores; pooling inflated a published true-positive rate from 73% to 96%.
  A 2-D input is refused, and `calibrate_probe` does the per-response averaging itself;
- a control set too small for the rate asked: with n controls only about `n * fpr` of them lie
  above the threshold, so n must be at least `ceil(min_exceedances / fpr)` (500 for 1% with the
  default 5); fewer is refused with the number needed.

The quantile is taken at 1-based position `(n + 1) * (1 - fpr)` of the sorted scores, interpolating
between neighbours. For continuous scores a fresh control exceeds the j-th smallest of n with
probability (n + 1 - j) / (n + 1) on average, so this position makes the expected false-positive
rate on new controls equal `fpr` (the usual `n * (1 - fpr)` position overshoots it by about 1/n).

    t = calibrate_threshold(probe.score_responses(control_rows, control_prompt_index), fpr=0.01)
    probe = calibrate_probe(probe, control_rows, control_prompt_index, fpr=0.01)   # probe.threshold
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.probes.probe import LinearProbe

MIN_EXCEEDANCES = 5


def required_controls(fpr: float, min_exceedances: int = MIN_EXCEEDANCES) -> int:
    """How many control responses a threshold at `fpr` needs: `ceil(min_exceedances / fpr)`.

    >>> required_controls(0.01)
    500
    """
    _check_fpr(fpr)
    # round() first: 5 / 0.01 is 500.00000000000006 in floating point.
    return math.ceil(round(min_exceedances / fpr, 9))


def check_control_count(n: int, fpr: float, min_exceedances: int = MIN_EXCEEDANCES) -> None:
    """Refuse `n` control responses too few for a threshold at `fpr` (callers check this before
    any model time; calibration checks it again on the scores)."""
    need = required_controls(fpr, min_exceedances)
    if n < need:
        raise InterpError(
            f"{n} control responses cannot calibrate a {fpr:.2%} false-positive rate: at least "
            f"{need} are needed (so that about {min_exceedances} controls lie above the threshold)",
            fix=f"score {need} or more benign control responses, or ask for fpr >= "
            f"{min_exceedances / n:.3g}"
            if n
            else f"score {need} or more benign control responses",
        )


def calibrate_threshold(
    control_response_scores: Float[Tensor, " responses"],
    fpr: float = 0.01,
    *,
    min_exceedances: int = MIN_EXCEEDANCES,
) -> float:
    """The (1 - fpr) quantile of per-response control scores (position `(n + 1)(1 - fpr)`).

    Flag a response when its score is strictly above the returned threshold; on fresh benign
    responses that happens at rate `fpr` on average. Refuses token-level (2-D) input, NaN scores,
    and fewer than `required_controls(fpr, min_exceedances)` responses.

    >>> scores = torch.randn(1000)
    >>> t = calibrate_threshold(scores, fpr=0.01)
    >>> float((scores > t).double().mean())
    0.01
    """
    _check_fpr(fpr)
    scores = torch.as_tensor(control_response_scores).detach().cpu()
    if scores.ndim != 1:
        raise InterpError(
            f"control scores must be one score per response (1-D), got shape {tuple(scores.shape)}",
            fix="average each response's token scores first (probe.score_responses); never pool "
            "tokens",
        )
    scores = scores.to(torch.float64)
    if not bool(torch.isfinite(scores).all()):
        raise InterpError(
            "control scores contain NaN or infinity",
            fix="drop control responses without tokens (their mean score is NaN)",
        )
    n = scores.numel()
    check_control_count(n, fpr, min_exceedances)
    ordered = torch.sort(scores).values
    position = (n + 1) * (1 - fpr) - 1  # 0-based
    lo = min(max(math.floor(position), 0), n - 1)
    hi = min(lo + 1, n - 1)
    frac = min(max(position - lo, 0.0), 1.0)
    return float(ordered[lo] + frac * (ordered[hi] - ordered[lo]))


def calibrate_probe(
    probe: LinearProbe,
    control_acts: Sequence[Float[Tensor, "tokens d_model"]] | Float[Tensor, "rows d_model"],
    prompt_index: Int[Tensor, " rows"] | None = None,
    fpr: float = 0.01,
    *,
    min_exceedances: int = MIN_EXCEEDANCES,
) -> LinearProbe:
    """A copy of `probe` whose threshold flags `fpr` of benign control responses.

    Scores each control response as the mean of its token scores (`probe.score_responses`), then
    `calibrate_threshold`. Controls are a list of per-response `(tokens, d_model)` tensors, or rows
    with `prompt_index`; responses without tokens are left out.

    >>> probe = calibrate_probe(probe, alpaca_rows, alpaca_prompt_index, fpr=0.01)   # doctest: +SKIP
    >>> probe.threshold, probe.threshold_fpr, probe.n_control                         # doctest: +SKIP
    (1.73, 0.01, 1000)
    """
    per_response = probe.score_responses(control_acts, prompt_index)
    per_response = per_response[~torch.isnan(per_response)]  # ids with no rows
    threshold = calibrate_threshold(per_response, fpr, min_exceedances=min_exceedances)
    return probe.with_threshold(threshold, fpr=fpr, n_control=per_response.numel())


def _check_fpr(fpr: float) -> None:
    if not 0 < fpr < 1:
        raise InterpError(
            f"the false-positive rate must lie in (0, 1), got {fpr}", fix="use e.g. fpr=0.01"
        )
