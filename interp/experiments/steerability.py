"""Is a latent capability steerable in the model itself? The same-model check behind a transfer.

The prompt-contrast direction of one model (cued minus direct prompt, last prompt token, every
block) is applied back to that model as methods.md section 1 step 3 does: rotation at the last
prompt token, prefill only. Alpha is chosen on selection items; the test split is scored once,
beside random directions of the same per-layer norms.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from interp.directions import DirectionSet
from interp.experiments.transfer import Study
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_fit import last_token_acts
from interp.experiments.transfer_measures import paired_bootstrap, random_like
from interp.experiments.transfer_task import Conditions, load_splits
from interp.models.load import load_model
from interp.store.provenance import dataset_hash


def run_steerability(config: TransferConfig) -> dict:
    """Steer `config.target` with its own prompt-contrast direction (fitted on max(n_values) items)."""
    config = replace(config, source_locked=config.target, contrast="prompt")
    model = load_model(config.target)
    split = load_splits(config)
    conditions = Conditions.of(config, split)
    locked_texts = [conditions.locked(item) for item in split.fit]
    locked = last_token_acts(model, locked_texts, config.batch_size)
    unlocked = last_token_acts(
        model, [conditions.unlocked(item) for item in split.fit], config.batch_size
    )
    method = "mean_difference" if config.method == "mean" else "pca_of_differences"
    directions = DirectionSet.from_contrast(
        unlocked, locked, method, model=model, dataset_hash=dataset_hash(locked_texts)
    )
    study = Study(config, None, conditions, model)

    def accuracy(items, directions_: DirectionSet | None, alpha: float = 0.0):
        return torch.tensor(study.correctness(items, directions_, alpha))

    select = {
        alpha: float(accuracy(split.select, directions, alpha).mean()) for alpha in config.alphas
    }
    alpha = max(select, key=lambda a: (select[a], -a))
    unsteered = accuracy(split.test, None)
    steered = accuracy(split.test, directions, alpha)
    cued = torch.tensor(study.correctness(split.test, condition="unlocked"))
    controls = [
        float(
            accuracy(split.test, random_like(directions, 1000 + seed), alpha).mean()
            - unsteered.mean()
        )
        for seed in range(config.n_controls)
    ]
    return {
        "model": config.target,
        "alpha": alpha,
        "select_accuracy_by_alpha": select,
        "direct_accuracy": float(unsteered.mean()),
        "steered_accuracy": float(steered.mean()),
        "cued_accuracy": float(cued.mean()),
        "gain": float(steered.mean() - unsteered.mean()),
        "gain_ci95": list(paired_bootstrap(steered, unsteered, config.n_bootstrap, config.seed)),
        "random_control_gains": controls,
        "random_control_gain_p95": float(torch.tensor(controls).quantile(0.95)),
        "n_test": len(split.test),
    }
