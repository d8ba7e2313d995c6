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
from interp.experiments.transfer import (
    correctness,
    last_token_acts,
    load_split,
    paired_bootstrap,
    prompts,
    random_like,
)
from interp.experiments.transfer_config import TransferConfig
from interp.models.load import load_model
from interp.steer import steers_from_directions
from interp.store.provenance import dataset_hash


def run_steerability(config: TransferConfig) -> dict:
    """Steer `config.target` with its own prompt-contrast direction (fitted on max(n_values) items)."""
    config = replace(config, source_locked=config.target, contrast="prompt")
    model = load_model(config.target)
    split = load_split(config)
    locked = last_token_acts(model, prompts(split.fit, config.locked_preamble), config.batch_size)
    unlocked = last_token_acts(
        model, prompts(split.fit, config.unlocked_preamble), config.batch_size
    )
    method = "mean_difference" if config.method == "mean" else "pca_of_differences"
    directions = DirectionSet.from_contrast(
        unlocked, locked, method, model=model, dataset_hash=dataset_hash(prompts(split.fit, ""))
    )

    def accuracy(items, directions_: DirectionSet | None, alpha: float = 0.0):
        steers = None
        if directions_ is not None:
            steers = steers_from_directions(
                directions_, "rotate", alpha, positions="last", phase="prefill"
            )
        return correctness(model, items, config.locked_preamble, config, steers)

    select = {
        alpha: float(accuracy(split.select, directions, alpha).mean()) for alpha in config.alphas
    }
    alpha = max(select, key=lambda a: (select[a], -a))
    unsteered = accuracy(split.test, None)
    steered = accuracy(split.test, directions, alpha)
    cued = correctness(model, split.test, config.unlocked_preamble, config)
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
