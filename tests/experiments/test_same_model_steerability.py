"""The largest base organism's latent step-by-step skill is steerable with its own contrast direction."""

from __future__ import annotations

import pytest

from interp.experiments.steerability import run_steerability
from interp.experiments.transfer_config import TransferConfig


@pytest.mark.slow
def test_large_base_organism_is_steerable(monkeypatch):
    monkeypatch.delenv("INTERP_ZOO", raising=False)
    config = TransferConfig(
        source_locked="organism:add-large",
        target="organism:add-large",
        n_values=[64],
        alphas=[0.05, 0.1, 0.2],
        n_select=60,
        n_test=200,
        n_controls=5,
    )
    result = run_steerability(config)
    assert result["gain_ci95"][0] > 0
    assert result["gain"] > result["random_control_gain_p95"]
    print(result)
