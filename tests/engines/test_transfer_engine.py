"""The transfer study with the target's generations on the vLLM engine (`--engine vllm`: the grid
and the test step each one batch, a steer per request) against the same study on hf, on
SmolLM2-135M-Instruct in float32 with greedy decoding. Runs in the vLLM environment
(`make setup-vllm`); skipped where vLLM is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "vllm", reason="vLLM is not installed here; `make setup-vllm` builds .venv-vllm, which has it"
)

from interp.cli.main import main  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "transfer_real"
# Scores of the target's generations; fit quality and KL are read on hf by both engines.
SCORES = (
    "target_unsteered_accuracy",
    "target_steered_accuracy",
    "gain",
    "gain_ci95",
    "random_control_gains",
    "target_cued_accuracy",
    "select_unsteered_accuracy",
    "accuracy_ci95",
    "chosen",
    "grid",
    "target_own_direction",
)


def test_transfer_scores_the_same_on_vllm_and_hf(smollm2, smollm2_gguf, tmp_path, monkeypatch):
    # Source and target are one SmolLM2, loaded once for both runs' hf parts.
    monkeypatch.setattr(
        "interp.experiments.transfer.load_study_model", lambda config, spec: smollm2
    )
    config = {
        "source_locked": str(smollm2_gguf),
        "target": str(smollm2_gguf),
        "task_file": str(EXAMPLES / "capitals.jsonl"),
        "grader": "prefix_folded",
        # One demonstration (locked) against three (unlocked): the unsteered target answers some.
        "contrast": "prompt",
        "locked_preamble": "France: Paris\n",
        "unlocked_preamble": "France: Paris\nJapan: Tokyo\nItaly: Rome\n",
        "n_values": [8],
        "ranks": [4],
        "alphas": [0.1, 0.5],
        "target_own_direction": True,
        "n_select": 6,
        "n_test": 10,
        "n_controls": 2,
        "n_bootstrap": 200,
        "max_new_tokens": 3,
        "neutral_prompts": ["The weather today is"],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    metrics = {}
    for engine in ("hf", "vllm"):
        out = tmp_path / engine
        assert main(["transfer", "--config", str(path), "--out", str(out), "--engine", engine]) == 0
        metrics[engine] = json.loads((out / "metrics.json").read_text())
        assert json.loads((out / "config.json").read_text())["engine"] == engine
    hf, vllm = metrics["hf"], metrics["vllm"]
    assert len(hf["grid"]) == 2
    for key in SCORES:
        assert vllm[key] == hf[key], key
    # Not trivially equal: the unsteered target answers some, and steering changes answers.
    assert hf["target_unsteered_accuracy"] > 0
    assert hf["gain"] != 0 or any(hf["random_control_gains"])
