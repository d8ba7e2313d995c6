"""On the real stories260K model, a happy-minus-sad direction moves held-out words beyond controls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from interp.capture.items import Item
from interp.errors import InterpError
from interp.experiments.contrast_steering import ContrastSteeringConfig, run_contrast_steering
from interp.experiments.scoring import continuation_logprobs
from interp.models.load import load_model

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "stories_sentiment" / "config.json"


def test_continuation_logprobs_match_a_direct_forward(tiny_dirs):
    model = load_model(tiny_dirs["llama"])
    items = [Item("the cat", response=" sat"), Item("a much longer prompt", response=" here we go")]
    got = continuation_logprobs(model, items, batch_size=2)
    for item, score in zip(items, got, strict=True):
        prompt_ids = model.tokenizer(item.prompt).input_ids
        ids = torch.tensor([model.tokenizer(item.prompt + item.response).input_ids])
        lp = model.forward(ids).log_softmax(-1)[0]
        expected = sum(float(lp[t - 1, ids[0, t]]) for t in range(len(prompt_ids), ids.shape[1]))
        assert abs(float(score) - expected) < 1e-4
    with pytest.raises(InterpError, match="no response"):
        continuation_logprobs(model, [Item("no response")])


@pytest.mark.slow
def test_sentiment_direction_beats_random_controls(stories_path, tmp_path):
    config = ContrastSteeringConfig(**json.loads(CONFIG.read_text()))
    metrics = run_contrast_steering(load_model(stories_path), config, tmp_path / "run")
    assert metrics["effect_ci95"][0] > 0
    assert metrics["effect"] > metrics["random_control_effect_p95"]
    assert metrics["negated_effect"] < 0
    assert metrics["kl_neutral"] < 0.1
    assert (tmp_path / "run" / "report.md").is_file() and (
        tmp_path / "run" / "figures" / "controls.png"
    ).is_file()
