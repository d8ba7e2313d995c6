"""`interp demo`: a small UNLOCK transfer study on the shipped organism zoo, offline, in under a minute.

The step-by-step direction of the medium `add` model (cued minus direct prompt) is carried into the
large base model through per-layer rank-k maps and applied as a rotation at the last prompt token;
the run directory holds the config, metrics with their controls, report.md and figures.
"""

from __future__ import annotations

from pathlib import Path

from interp.experiments.transfer import run_transfer
from interp.experiments.transfer_config import TransferConfig

DEMO = TransferConfig(
    source_locked="organism:add-medium",
    target="organism:add-large",
    contrast="prompt",
    n_values=[32, 128],
    ranks=[4, 16],
    alphas=[0.05, 0.1, 0.2],
    n_select=60,
    n_test=100,
    n_controls=5,
    max_new_tokens=48,
)


def run_demo(out: Path, seed: int = 0, progress: bool = False) -> dict:
    """Run the demo study into `out` (created whole at the end) and return its metrics."""
    from dataclasses import replace

    return run_transfer(replace(DEMO, seed=seed), Path(out), progress=progress)
