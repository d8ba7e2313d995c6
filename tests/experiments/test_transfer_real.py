"""The real transfer study in quick mode: SmolLM2-135M-Instruct's few-shot direction for country ->
capital carried into Gemma-3-270M, and the shipped configs of examples/transfer_real/ checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interp.experiments.transfer import run_transfer
from interp.experiments.transfer_config import TransferConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "transfer_real"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_the_shipped_configs_are_valid(path):
    TransferConfig.from_file(path)  # files, splits and grader checked, no model loaded


@pytest.mark.slow
def test_quick_capitals_study_on_the_real_models(
    smollm2, gemma3, smollm2_gguf, gemma3_gguf, tmp_path, monkeypatch
):
    loaded = {str(smollm2_gguf): smollm2, str(gemma3_gguf): gemma3}
    monkeypatch.setattr(
        "interp.experiments.transfer.load_study_model", lambda config, spec: loaded[spec]
    )
    fit_prompts = (EXAMPLES / "fit_prompts.jsonl").read_text().splitlines()[:40]
    (tmp_path / "fit.jsonl").write_text("\n".join(fit_prompts) + "\n")
    shipped = json.loads((EXAMPLES / "smollm2_to_gemma3_capitals.json").read_text())
    quick = {
        **shipped,
        "source_locked": str(smollm2_gguf),
        "target": str(gemma3_gguf),
        "task_file": str(EXAMPLES / "capitals.jsonl"),
        "fit_prompts": str(tmp_path / "fit.jsonl"),
        "n_values": [32],
        "ranks": [16],
        "alphas": [0.02],
        "fit_sets": ["broad"],
        "layer_matchings": ["depth"],
        "n_select": 4,
        "n_test": 16,
        "n_controls": 2,
        "n_bootstrap": 200,
        "max_new_tokens": 3,
        "neutral_prompts": ["The weather today is"],
    }
    result = run_transfer(TransferConfig.from_dict(quick), tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # Zero-shot, Gemma-3-270M never names the capital; the full study's gain is +0.62 on 60 items.
    assert metrics["target_unsteered_accuracy"] == 0.0
    assert metrics["gain_ci95"][0] > max(metrics["random_control_gains"])
    # The broad fit has seen the target unlocked: what it carries is the target's own direction.
    assert metrics["target_own_direction"]["cosine_to_transferred"] > 0.8
    assert result is not None
