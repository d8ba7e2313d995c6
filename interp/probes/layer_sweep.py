"""The per-layer probe sweep: at each hook, a cross-validated probe beside its controls (shuffled
labels, the activation norm, correctness), and the row to keep."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from interp.errors import InterpError
from interp.probes.sweep import (
    CVResult,
    correctness_auroc,
    cross_validate,
    norm_auroc,
    shuffled_labels,
)

_LAYER = re.compile(r"^blocks\.(-?\d+)\.")


def layer_sweep(
    acts_by_layer: Mapping[str, tuple[Tensor, Tensor] | Tensor],
    labels: Tensor,
    *,
    folds: int = 5,
    method: str = "logistic",
    C: float = 0.1,
    seed: int = 0,
    n_boot: int = 1000,
    alpha: float = 0.05,
    controls: bool = True,
    correct: Tensor | None = None,
    condition: int = 0,
) -> list[dict[str, Any]]:
    """Cross-validated AUROC (with interval) per hook, and the controls, as one flat dict per hook.

    `acts_by_layer[hook]` is `(rows, prompt_index)`, or a `(prompts, d_model)` tensor with one row
    per prompt. `labels` and `correct` are per prompt, indexed by prompt id. Keys of each row:
    `hook, layer, method, C, folds, n_prompts, n_rows, auroc(_low, _high)` and, with `controls`,
    `shuffled_auroc(...)`, `norm_auroc(...)` and `correctness_auroc(...)` (None where `correct`
    is not given or the condition lacks correct or incorrect answers). Intervals are bootstraps
    over prompts (see `cross_validate` for what they leave out).

    >>> rows = layer_sweep({h: (got.activations[h], got.prompt_index) for h in got.hooks},  # doctest: +SKIP
    ...                    labels, correct=is_correct)
    >>> best_row(rows)["hook"]                                                             # doctest: +SKIP
    'blocks.3.hook_resid_post'
    """
    if not acts_by_layer:
        raise InterpError("no activations to sweep", fix="pass {hook: (rows, prompt_index)}")
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    settings: dict[str, Any] = {
        "folds": folds,
        "method": method,
        "C": C,
        "seed": seed,
        "n_boot": n_boot,
        "alpha": alpha,
    }
    table = []
    for hook, value in acts_by_layer.items():
        if isinstance(value, tuple | list):
            rows, groups = value
        else:  # one row per prompt
            rows, groups = value, torch.arange(value.shape[0])
        groups = torch.as_tensor(groups).reshape(-1).long().cpu()
        cv = cross_validate(rows, labels, groups, **settings)
        match = _LAYER.match(hook)
        entry: dict[str, Any] = {
            "hook": hook,
            "layer": int(match.group(1)) if match else None,
            "method": method,
            "C": C if method == "logistic" else None,
            "folds": folds,
            "n_prompts": int(cv.prompt_ids.numel()),
            "n_rows": int(rows.shape[0]),
            **cv.auroc.as_dict("auroc"),
        }
        if controls:
            shuffled = shuffled_labels(labels, groups, seed=seed + 1)
            entry |= cross_validate(rows, shuffled, groups, **settings).auroc.as_dict(
                "shuffled_auroc"
            )
            entry |= norm_auroc(
                rows, labels, groups, n_boot=n_boot, seed=seed, alpha=alpha
            ).as_dict("norm_auroc")
            entry |= _correctness_entry(cv, correct, condition, n_boot, seed, alpha)
        table.append(entry)
    return table


def _correctness_entry(
    cv: CVResult, correct: Tensor | None, condition: int, n_boot: int, seed: int, alpha: float
) -> Mapping[str, float | None]:
    empty = dict.fromkeys(("correctness_auroc", "correctness_auroc_low", "correctness_auroc_high"))
    if correct is None:
        return empty
    is_correct = torch.as_tensor(correct).reshape(-1).bool().cpu()[cv.prompt_ids]
    within = cv.labels == condition
    if is_correct[within].all() or not is_correct[within].any():
        return empty
    interval = correctness_auroc(
        cv.scores, is_correct, within, n_boot=n_boot, seed=seed, alpha=alpha
    )
    return interval.as_dict("correctness_auroc")


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep row with the highest AUROC; among exact ties (a contrast every layer separates
    perfectly, say) the layer nearest the middle of those swept, where probes are read, rather
    than whichever came first.

    >>> best_row([{"layer": 0, "auroc": 1.0}, {"layer": 1, "auroc": 1.0}, {"layer": 2, "auroc": 1.0}])
    {'layer': 1, 'auroc': 1.0}
    """
    if not rows:
        raise InterpError("no sweep rows to choose from", fix="sweep at least one layer")
    layers = sorted(row["layer"] for row in rows)
    middle = (layers[0] + layers[-1]) / 2
    return max(rows, key=lambda row: (row["auroc"], -abs(row["layer"] - middle)))
