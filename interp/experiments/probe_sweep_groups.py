"""The probe sweep's layer row with folds and intervals split by group (`run_probe_sweep(groups=...)`).

Kept beside `probe_sweep` rather than in it, so the prompt-split path that earlier studies ran is
untouched: the same keys come back in the same order, computed by `interp.probes.grouped`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.experiments.probe_sweep import METHODS, SweepSettings, _with_null
from interp.probes.grouped import (
    assign_group_folds,
    group_codes,
    grouped_cross_validate,
    grouped_norm_auroc,
    grouped_permutation_null,
)


def sweep_one_layer_grouped(
    rows: Tensor, labels: Tensor, prompt_index: Tensor, s: SweepSettings, fold_groups: Tensor
) -> tuple[dict[str, Any], Tensor]:
    """`sweep_one_layer` with folds and intervals split by group: the same keys, in the same order."""
    entry: dict[str, Any] = {"n_rows": int(rows.shape[0])}
    null_logistic = torch.empty(0)
    for method in METHODS:
        prefix = "" if method == "logistic" else "mass_mean_"
        cv = grouped_cross_validate(
            rows, labels, prompt_index, fold_groups,
            folds=s.folds, method=method, C=s.C, seed=s.seed, n_boot=s.n_boot,
        )  # fmt: skip
        null = grouped_permutation_null(
            rows, labels, prompt_index, fold_groups, n=s.n_perm,
            folds=s.folds, method=method, C=s.C, seed=s.seed,
        )  # fmt: skip
        entry |= {f"{prefix}{k}": v for k, v in _with_null(cv.auroc.as_dict("auroc"), null).items()}
        if method == "logistic":
            entry["fold_auroc"] = list(cv.fold_auroc)
            null_logistic = null
    norm = grouped_norm_auroc(rows, labels, prompt_index, fold_groups, n_boot=s.n_boot, seed=s.seed)
    entry |= norm.as_dict("norm_auroc")
    entry["norm_auroc_folded"] = max(norm.value, 1 - norm.value)
    entry["beats_null"] = entry["auroc_low"] > entry["null_p95"]
    entry["beats_norm"] = entry["auroc_low"] > entry["norm_auroc_folded"]
    return entry, null_logistic


def check_fold_groups(groups: Sequence[Hashable], labels: Tensor, folds: int, seed: int) -> Tensor:
    """One group per item, enough groups for the folds: their integer ids, before any capture."""
    if len(groups) != labels.numel():
        raise InterpError(
            f"{len(groups)} group names for {labels.numel()} items",
            fix="give every item one group (e.g. the entity it is about)",
        )
    codes = group_codes(groups)
    assign_group_folds(codes, labels, folds, seed)  # refuses too few groups before model time
    return codes
