"""Cross-validation by prompt, and the controls every probe result must beat.

Tokens of one response are not independent samples: a probe that saw some of a prompt's tokens in
training recognises the rest, so folds split prompts, never tokens (`split_by_prompt`). Folds are
stratified by the prompt's label. Each prompt gets an out-of-fold score (the mean of its token
scores under the probe trained without it); AUROC over prompts, with a bootstrap interval over
prompts, is the result.

Controls (run by default in `interp.probes.layer_sweep`):
- shuffled labels: the same cross-validation after permuting the prompts' labels; must sit at 0.5;
- activation norm: a probe on the token's norm |x| alone (`norm_auroc`; larger norm = positive),
  far from 0.5 on either side means the classes differ in scale;
- correctness (when `correct` is given): the probe's out-of-fold AUROC for incorrect vs correct
  answers within one condition (default: label 0, the honest one); a high value means the probe
  reads wrong answers, not intent.

    cv = cross_validate(rows, labels, prompt_index, folds=5)          # cv.auroc: Interval
    table = layer_sweep({h: (got.activations[h], got.prompt_index) for h in got.hooks},
                        labels, correct=is_correct)                   # one dict per hook
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.probes.fit import fit_logistic_probe, fit_mass_mean_probe
from interp.probes.metrics import Interval, auroc, bootstrap_ci
from interp.probes.probe import LinearProbe
from interp.probes.scoring import mean_per_prompt

Fitter = Callable[[Tensor, Tensor, Tensor, float], LinearProbe]

FITTERS: dict[str, Fitter] = {
    "logistic": lambda rows, labels, groups, C: fit_logistic_probe(rows, labels, groups, C),
    "mass_mean": lambda rows, labels, groups, C: fit_mass_mean_probe(rows, labels, groups),
}


@dataclass(frozen=True, eq=False)
class CVResult:
    """Out-of-fold per-prompt scores and their AUROC."""

    prompt_ids: Int[Tensor, " prompts"]  # sorted ids of the prompts that have rows
    labels: Int[Tensor, " prompts"]
    scores: Float[Tensor, " prompts"]  # mean token score under the probe that did not see it
    fold: Int[Tensor, " prompts"]
    auroc: Interval
    fold_auroc: tuple[float, ...]  # per test fold (NaN if a fold lacks a class)


def assign_folds(
    prompt_labels: Int[Tensor, " prompts"], folds: int = 5, seed: int = 0
) -> Int[Tensor, " prompts"]:
    """A fold in 0..folds-1 for each prompt, stratified: each class is shuffled, then dealt round.

    >>> assign_folds(torch.tensor([0, 0, 1, 1]), folds=2).sort().values
    tensor([0, 0, 1, 1])
    """
    y = torch.as_tensor(prompt_labels).reshape(-1).long()
    if folds < 2:
        raise InterpError(
            f"cross-validation needs at least 2 folds, got {folds}", fix="use folds=5"
        )
    if not bool(((y == 0) | (y == 1)).all()):
        raise InterpError("prompt labels must be 0 or 1", fix="encode the positive class as 1")
    gen = torch.Generator().manual_seed(seed)
    fold = torch.empty_like(y)
    dealt = 0
    for cls in (0, 1):
        members = torch.nonzero(y == cls).reshape(-1)
        if members.numel() < folds:
            raise InterpError(
                f"{members.numel()} prompts of class {cls} cannot fill {folds} folds",
                fix=f"use folds <= {members.numel()}, or add prompts of class {cls}",
            )
        members = members[torch.randperm(members.numel(), generator=gen)]
        # Continue dealing where the previous class stopped, so fold sizes differ by at most one.
        fold[members] = (torch.arange(members.numel()) + dealt) % folds
        dealt += members.numel()
    return fold


def split_by_prompt(
    groups: Int[Tensor, " rows"], labels: Tensor, folds: int = 5, seed: int = 0
) -> list[tuple[Int[Tensor, " train"], Int[Tensor, " test"]]]:
    """(train rows, test rows) per fold; every prompt's rows land in exactly one test fold.

    `labels[groups[i]]` is row i's label, as in the fitters.

    >>> for train, test in split_by_prompt(prompt_index, labels, folds=5):   # doctest: +SKIP
    ...     probe = fit_logistic_probe(rows[train], labels, prompt_index[train])
    """
    groups = torch.as_tensor(groups).reshape(-1).long().cpu()
    prompts, inverse = torch.unique(groups, return_inverse=True)
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    if int(prompts.max()) >= labels.shape[0] or int(prompts.min()) < 0:
        raise InterpError(
            f"prompt ids run to {int(prompts.max())} but there are {labels.shape[0]} labels",
            fix="give one label per prompt, indexed by prompt id",
        )
    row_fold = assign_folds(labels[prompts], folds, seed)[inverse]  # (rows,)
    return [
        (torch.nonzero(row_fold != f).reshape(-1), torch.nonzero(row_fold == f).reshape(-1))
        for f in range(folds)
    ]


def cross_validate(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"],
    *,
    folds: int = 5,
    method: str = "logistic",
    C: float = 0.1,
    seed: int = 0,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> CVResult:
    """Out-of-fold response scores and their AUROC, folds split by prompt.

    For fold f: fit on the rows of prompts outside f (standardizer included), score the rows of
    prompts in f, average per prompt. AUROC pools the out-of-fold prompt scores; its interval is a
    bootstrap over prompts given those scores. That interval omits how the probe varies with its
    training folds, so it is narrower than the estimate's real spread (about sqrt(2) under the
    null); judge a result against the shuffled-label control or `permutation_null` as well.

    >>> cv = cross_validate(rows, labels, prompt_index, folds=5)   # doctest: +SKIP
    >>> cv.auroc.value, cv.auroc.low, cv.auroc.high                # doctest: +SKIP
    """
    if method not in FITTERS:
        raise InterpError(f"unknown probe method {method!r}", fix=f"use one of {sorted(FITTERS)}")
    if not isinstance(acts, Tensor) or acts.ndim != 2:
        raise InterpError(
            "cross_validate needs 2-D (rows, d_model) activations", fix="flatten tokens into rows"
        )
    groups = torch.as_tensor(groups).reshape(-1).long().cpu()
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    row_fold = torch.empty(acts.shape[0], dtype=torch.long)
    for f, (_, test) in enumerate(split_by_prompt(groups, labels, folds, seed)):
        row_fold[test] = f
    return out_of_fold(
        acts, labels, groups, row_fold, folds, method=method, C=C, n_boot=n_boot, seed=seed,
        alpha=alpha,
    )  # fmt: skip


def out_of_fold(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    index: Int[Tensor, " rows"],
    row_fold: Int[Tensor, " rows"],
    folds: int,
    *,
    method: str,
    C: float,
    n_boot: int,
    seed: int,
    alpha: float,
    boot_groups: Tensor | None = None,
) -> CVResult:
    """The cross-validation loop under given folds (one per row, constant within a prompt): fit
    outside fold f, score inside it, average per prompt, AUROC with its interval over prompts (or
    over `boot_groups`, one per prompt id, resampled whole)."""
    token_scores = torch.full((acts.shape[0],), float("nan"), dtype=torch.float64)
    for f in range(folds):
        train = torch.nonzero(row_fold != f).reshape(-1)
        test = torch.nonzero(row_fold == f).reshape(-1)
        if test.numel() == 0:
            continue
        probe = FITTERS[method](acts[train], labels, index[train], C)
        token_scores[test] = probe.score_tokens(acts[test]).to(torch.float64).cpu()
    prompts = torch.unique(index)
    scores = mean_per_prompt(token_scores, index)[prompts]
    y = labels[prompts].long()
    fold = mean_per_prompt(row_fold.double(), index)[prompts].long()
    per_fold = tuple(_auroc_or_nan(scores[fold == f], y[fold == f]) for f in range(folds))
    if n_boot > 0:
        groups = None if boot_groups is None else torch.as_tensor(boot_groups)[prompts]
        interval = bootstrap_ci(auroc, scores, y, n=n_boot, seed=seed, alpha=alpha, groups=groups)
    else:  # the point estimate only (permutation nulls need no interval)
        interval = Interval(auroc(scores, y), float("nan"), float("nan"), 1 - alpha, 0)
    return CVResult(prompts, y, scores, fold, interval, per_fold)


def permutation_null(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"],
    n: int = 20,
    *,
    folds: int = 5,
    method: str = "logistic",
    C: float = 0.1,
    seed: int = 0,
) -> Float[Tensor, " n"]:
    """Cross-validated AUROCs after `n` permutations of the prompt labels: the empirical null.

    The bootstrap interval of `cross_validate` holds the out-of-fold scores fixed, so it leaves out
    how the fitted probe varies with its training folds; under the null the CV AUROC spreads about
    sqrt(2) wider than that interval suggests (folds train on each other's test prompts). This
    null includes it. One-sided p-value: `(1 + (null >= observed).sum()) / (n + 1)`.

    >>> null = permutation_null(rows, labels, prompt_index, n=20)   # doctest: +SKIP
    """
    return torch.tensor(
        [
            cross_validate(
                acts,
                shuffled_labels(labels, groups, seed=seed + 1 + i),
                groups,
                folds=folds,
                method=method,
                C=C,
                seed=seed,
                n_boot=0,
            ).auroc.value
            for i in range(n)
        ],
        dtype=torch.float64,
    )


def _auroc_or_nan(scores: Tensor, labels: Tensor) -> float:
    if labels.numel() == 0 or labels.min() == labels.max():
        return float("nan")
    return auroc(scores, labels)


# ---- controls -----------------------------------------------------------------------------------


def shuffled_labels(labels: Tensor, groups: Int[Tensor, " rows"], seed: int = 0) -> Tensor:
    """The prompt labels permuted among the prompts that have rows (class counts kept)."""
    labels = torch.as_tensor(labels).reshape(-1).cpu().clone()
    prompts = torch.unique(torch.as_tensor(groups).reshape(-1).long().cpu())
    gen = torch.Generator().manual_seed(seed)
    labels[prompts] = labels[prompts][torch.randperm(prompts.numel(), generator=gen)]
    return labels


def norm_feature(acts: Float[Tensor, "rows d_model"]) -> Float[Tensor, "rows 1"]:
    """Each row's Euclidean norm as a one-feature input: the activation-norm control probe."""
    return acts.to(torch.float64).norm(dim=-1, keepdim=True)


def norm_auroc(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Interval:
    """AUROC of the probe on the activation norm alone: response score = mean of |x| over tokens.

    A one-feature probe (standardized, no intercept) ranks responses by their mean token norm,
    up to the sign of its single weight, so no fitting (and no cross-validation, whose null
    spread is wide for one feature) is needed: the sign is fixed, larger norm = positive. Far from
    0.5 on either side means the classes differ in scale; a direction probe must beat
    `max(a, 1 - a)`.

    >>> norm_auroc(rows, labels, prompt_index).value   # doctest: +SKIP
    0.52
    """
    groups = torch.as_tensor(groups).reshape(-1).long().cpu()
    prompts = torch.unique(groups)
    per_response = mean_per_prompt(norm_feature(acts)[:, 0].cpu(), groups)[prompts]
    y = torch.as_tensor(labels).reshape(-1).cpu()[prompts].long()
    return bootstrap_ci(auroc, per_response, y, n=n_boot, seed=seed, alpha=alpha)


def correctness_auroc(
    response_scores: Float[Tensor, " prompts"],
    correct: Tensor,
    within: Tensor | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Interval:
    """AUROC of the probe's response scores for incorrect (positive) vs correct answers.

    Restricted to the responses where `within` is True (one condition, e.g. the honest prompts),
    so the probe's target cannot explain it: near 0.5 is what a probe of intent should show.

    >>> correctness_auroc(cv.scores, is_correct[cv.prompt_ids], cv.labels == 0)   # doctest: +SKIP
    """
    scores = torch.as_tensor(response_scores).reshape(-1)
    incorrect = ~torch.as_tensor(correct).reshape(-1).bool()
    if within is not None:
        keep = torch.as_tensor(within).reshape(-1).bool()
        scores, incorrect = scores[keep], incorrect[keep]
    if incorrect.all() or not incorrect.any():
        raise InterpError(
            "the correctness control needs both correct and incorrect answers in the condition",
            fix="grade more responses, or skip the control for this condition",
        )
    return bootstrap_ci(auroc, scores, incorrect.long(), n=n_boot, seed=seed, alpha=alpha)
