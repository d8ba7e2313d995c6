"""Cross-validation whose folds keep whole groups together: an entity and every statement about it.

`cross_validate` splits by prompt, which is right when prompts are independent. Pairs such as
"The capital of France is Paris." / "... is Rome." are not: with one in training and the other in
test, a probe can score the test prompt by recognising France rather than by reading truth. Here
each prompt carries a group id (an entity, or a block of entities that share objects); folds deal
out whole groups, intervals resample whole groups, and a held-out split never puts a group on both
sides.

    fold = assign_group_folds(groups, labels, folds=5, seed=0)       # one fold per prompt
    cv = grouped_cross_validate(rows, labels, prompt_index, groups)  # a CVResult, as cross_validate
    null = grouped_permutation_null(rows, labels, prompt_index, groups, n=20)

`groups` is per prompt (indexed by prompt id, like `labels`); rows map to prompts by `prompt_index`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.probes.scoring import mean_per_prompt
from interp.probes.sweep import FITTERS, CVResult, norm_feature, out_of_fold, shuffled_labels
from interp.stats import Interval, auroc_interval


def group_codes(names: Sequence[Hashable]) -> Int[Tensor, " prompts"]:
    """Integer ids for group names, numbered in order of first appearance.

    >>> group_codes(["b", "a", "b"])
    tensor([0, 1, 0])
    """
    index: dict[Hashable, int] = {}
    return torch.tensor([index.setdefault(name, len(index)) for name in names], dtype=torch.long)


def assign_group_folds(
    groups: Int[Tensor, " prompts"], labels: Tensor, folds: int = 5, seed: int = 0
) -> Int[Tensor, " prompts"]:
    """A fold in 0..folds-1 per prompt; every prompt of a group lands in the same fold.

    Groups are shuffled by `seed` and dealt round, largest first so fold sizes stay close. Refuses
    fewer groups than folds, and folds whose training part would lack a class.

    >>> assign_group_folds(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]), folds=2)
    tensor([0, 0, 1, 1])
    """
    g = torch.as_tensor(groups).reshape(-1).long().cpu()
    y = torch.as_tensor(labels).reshape(-1).cpu()
    if g.shape != y.shape:
        raise InterpError(
            f"{g.numel()} group ids but {y.numel()} labels", fix="give one group per prompt"
        )
    ids, inverse, counts = torch.unique(g, return_inverse=True, return_counts=True)
    if ids.numel() < folds:
        raise InterpError(
            f"{ids.numel()} groups cannot fill {folds} folds",
            fix=f"use {max(2, ids.numel())} folds or fewer, or more groups (entities)",
        )
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(ids.numel(), generator=gen)
    # Stable sort by size after the shuffle: ties stay in random order, big groups go first.
    order = order[torch.argsort(counts[order], descending=True, stable=True)]
    group_fold = torch.empty(ids.numel(), dtype=torch.long)
    group_fold[order] = torch.arange(ids.numel()) % folds
    fold = group_fold[inverse]
    for f in range(folds):
        train = y[fold != f]
        if train.unique().numel() < 2:
            raise InterpError(
                f"with folds split by group, fold {f}'s training prompts hold one class only",
                fix="use groups that hold both classes (pairs), or fewer folds",
            )
    return fold


def cross_validate_folds(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    prompt_index: Int[Tensor, " rows"],
    prompt_fold: Int[Tensor, " prompts"],
    *,
    method: str = "logistic",
    C: float = 0.1,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    boot_groups: Int[Tensor, " prompts"] | None = None,
) -> CVResult:
    """Out-of-fold response scores under given folds (one per prompt id) and their AUROC.

    As `cross_validate`, except that the folds are given; the interval resamples `boot_groups`
    whole (per prompt id) when given, else prompts.
    """
    if method not in FITTERS:
        raise InterpError(f"unknown probe method {method!r}", fix=f"use one of {sorted(FITTERS)}")
    index = torch.as_tensor(prompt_index).reshape(-1).long().cpu()
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    row_fold = torch.as_tensor(prompt_fold).reshape(-1).long().cpu()[index]
    return out_of_fold(
        acts, labels, index, row_fold, int(row_fold.max()) + 1, method=method, C=C,
        n_boot=n_boot, seed=seed, alpha=alpha, boot_groups=boot_groups,
    )  # fmt: skip


def grouped_cross_validate(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    prompt_index: Int[Tensor, " rows"],
    groups: Int[Tensor, " prompts"],
    *,
    folds: int = 5,
    method: str = "logistic",
    C: float = 0.1,
    seed: int = 0,
    n_boot: int = 1000,
    alpha: float = 0.05,
) -> CVResult:
    """`cross_validate` with folds split by group and an interval over groups.

    >>> cv = grouped_cross_validate(rows, labels, prompt_index, entity_ids)   # doctest: +SKIP
    """
    fold = assign_group_folds(groups, labels, folds, seed)
    return cross_validate_folds(
        acts, labels, prompt_index, fold, method=method, C=C, n_boot=n_boot, seed=seed,
        alpha=alpha, boot_groups=groups,
    )  # fmt: skip


def grouped_permutation_null(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    prompt_index: Int[Tensor, " rows"],
    groups: Int[Tensor, " prompts"],
    n: int = 20,
    *,
    folds: int = 5,
    method: str = "logistic",
    C: float = 0.1,
    seed: int = 0,
) -> Float[Tensor, " n"]:
    """Grouped cross-validated AUROCs after `n` permutations of the prompt labels (the null).

    The folds depend on the groups only, so every permutation is scored on the same folds; the
    labels are shuffled among all prompts (`shuffled_labels`, seed `seed + 1 + i`, as
    `permutation_null`), which also breaks the pairing of true and false within a group.
    """
    fold = assign_group_folds(groups, labels, folds, seed)
    return torch.tensor(
        [
            cross_validate_folds(
                acts, shuffled_labels(labels, prompt_index, seed=seed + 1 + i), prompt_index,
                fold, method=method, C=C, n_boot=0, seed=seed,
            ).auroc.value
            for i in range(n)
        ],
        dtype=torch.float64,
    )  # fmt: skip


def grouped_norm_auroc(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    prompt_index: Int[Tensor, " rows"],
    groups: Int[Tensor, " prompts"],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Interval:
    """`norm_auroc` (larger mean token norm = positive) with its interval over whole groups."""
    index = torch.as_tensor(prompt_index).reshape(-1).long().cpu()
    prompts = torch.unique(index)
    per_response = mean_per_prompt(norm_feature(acts)[:, 0].cpu(), index)[prompts]
    y = torch.as_tensor(labels).reshape(-1).cpu()[prompts].long()
    g = torch.as_tensor(groups).reshape(-1).cpu()[prompts]
    return auroc_interval(per_response, y, n=n_boot, seed=seed, alpha=alpha, groups=g)
