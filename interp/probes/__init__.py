"""Linear probes: logistic regression on standardized activations, mass-mean, and their audit tools.

    from interp.probes import fit_logistic_probe, calibrate_probe, layer_sweep
    table = layer_sweep({h: (got.activations[h], got.prompt_index) for h in got.hooks}, labels)
    probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model, hook=best_hook)
    probe = calibrate_probe(probe, control_rows, control_prompt_index, fpr=0.01)
    flagged = probe.flag(probe.score_responses(test_rows, test_prompt_index))
    probe.save("probe.safetensors")

`logistic` solves the regression; `probe` holds the `LinearProbe` value object and its file; `fit`
its fitters; `scoring` scores many probes at once (`score_many`, and `ProbeBank` to stack a bank
once and score it many times); `metrics` computes AUROC and bootstrap intervals; `calibrate` sets the threshold on per-response
control scores; `sweep` cross-validates by prompt and runs the controls.
"""

from __future__ import annotations

from interp.probes.calibrate import calibrate_probe, calibrate_threshold, required_controls
from interp.probes.fit import fit_logistic_probe, fit_mass_mean_probe
from interp.probes.layer_sweep import best_row, layer_sweep
from interp.probes.logistic import LogisticFit, Standardizer, fit_logistic_regression
from interp.probes.metrics import (
    Interval,
    auroc,
    bootstrap_ci,
    fpr_at_threshold,
    midranks,
    share_interval,
    tpr_at_threshold,
)
from interp.probes.probe import LinearProbe
from interp.probes.scoring import ProbeBank, mean_per_prompt, score_many
from interp.probes.sweep import (
    CVResult,
    assign_folds,
    correctness_auroc,
    cross_validate,
    norm_auroc,
    norm_feature,
    permutation_null,
    shuffled_labels,
    split_by_prompt,
)

__all__ = [
    "CVResult",
    "Interval",
    "LinearProbe",
    "LogisticFit",
    "ProbeBank",
    "Standardizer",
    "assign_folds",
    "auroc",
    "best_row",
    "bootstrap_ci",
    "calibrate_probe",
    "calibrate_threshold",
    "correctness_auroc",
    "cross_validate",
    "fit_logistic_probe",
    "fit_logistic_regression",
    "fit_mass_mean_probe",
    "fpr_at_threshold",
    "layer_sweep",
    "mean_per_prompt",
    "midranks",
    "norm_auroc",
    "norm_feature",
    "permutation_null",
    "required_controls",
    "score_many",
    "share_interval",
    "shuffled_labels",
    "split_by_prompt",
    "tpr_at_threshold",
]
