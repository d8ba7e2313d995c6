"""The probe sweep finds a planted signal beyond its controls, misses none where there is none, and
on the real stories260K model reads sentiment at some layer above the best-layer null."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from interp.errors import InterpError
from interp.experiments.probe_sweep import binary_labels, run_probe_sweep
from interp.models.load import load_model

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "stories_probe" / "config.json"
FAST = {"n_perm": 20, "n_boot": 200}
LETTERS = "abcdefghijklmnoprstuvw"  # no x or q: those are the planted markers


def planted_items(n_per_class: int = 20, seed: int = 0, labels_follow_marker: bool = True):
    """Random letter strings of equal length; class 1 carries x's, class 0 as many q's.

    With `labels_follow_marker=False` the labels are dealt at random: no signal to find.
    """
    rng = random.Random(seed)
    items = []
    for i in range(2 * n_per_class):
        marker = "x" if i % 2 else "q"
        chars = [rng.choice(LETTERS) for _ in range(16)]
        for position in rng.sample(range(16), 4):
            chars[position] = marker
        label = i % 2 if labels_follow_marker else rng.random() < 0.5
        items.append({"prompt": "".join(chars), "label": int(label)})
    if not labels_follow_marker:  # keep both classes filled for 5 folds
        for i in range(10):
            items[i]["label"] = i % 2
    return items


@pytest.fixture(autouse=True)
def one_thread():
    """Many small fits: on shared cores a second thread only adds contention (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tiny_dirs):
    torch.manual_seed(0)
    return load_model(tiny_dirs["llama"])


def test_planted_signal_beats_every_control(tiny, tmp_path):
    metrics = run_probe_sweep(tiny, planted_items(), out=tmp_path / "run", **FAST)
    best = metrics["best"]
    assert best["auroc_low"] > best["null_max_p95"] and best["beats_null"]
    assert best["auroc"] > 0.95 and best["beats_norm"]
    table = metrics["layers"]
    assert [row["layer"] for row in table] == [0, 1, 2]
    for row in table:  # every number sits beside its control
        assert row["auroc_low"] <= row["auroc"] <= row["auroc_high"]
        assert 0.3 < row["null_mean"] < 0.7 and row["null_p05"] <= row["null_p95"]
        assert 0 < row["p_value"] <= 1 and 0 < row["mass_mean_p_value"] <= 1
        assert {"norm_auroc", "norm_auroc_low", "norm_auroc_high", "mass_mean_auroc"} <= set(row)
        assert len(row["fold_auroc"]) == 5
    run = tmp_path / "run"
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["best"] == best and on_disk["layers"][0]["hook"] == "blocks.0.hook_resid_post"
    config = json.loads((run / "config.json").read_text())
    assert config["n_prompts"] == 40 and config["positions"] == "all" and config["C"] == 0.1
    assert "null p95" in (run / "report.md").read_text()
    assert (run / "figures" / "probe_auroc_by_layer.png").stat().st_size > 1000


def test_no_signal_stays_inside_the_null(tiny):
    metrics = run_probe_sweep(tiny, planted_items(labels_follow_marker=False), **FAST)
    assert not metrics["best"]["beats_null"]
    assert all(row["auroc_low"] < 0.75 for row in metrics["layers"])


def test_response_positions_score_only_response_tokens(tiny):
    items = [
        {"prompt": "the answer is", "response": r["prompt"][:8], "label": r["label"]}
        for r in planted_items()
    ]
    metrics = run_probe_sweep(tiny, items, positions="response", **FAST)
    assert all(row["n_rows"] == 8 * len(items) for row in metrics["layers"])
    assert metrics["best"]["auroc"] > 0.9


def test_labels_are_checked_before_any_model_time(tiny, tmp_path):
    good = planted_items()
    assert binary_labels(
        [{"prompt": "a", "label": "sad"}, {"prompt": "b", "label": "happy"}]
    ).names == (
        "happy",
        "sad",
    )
    cases = {
        "0 or 1": [dict(r, label=2 if i == 0 else r["label"]) for i, r in enumerate(good)],
        "exactly two": [dict(r, label=str(i % 3)) for i, r in enumerate(good)],
        "no label": [{"prompt": "a"}, *good],
        "mix": [dict(r, label="yes" if i == 0 else r["label"]) for i, r in enumerate(good)],
        "integers 0/1 or strings": [dict(r, label=0.5) for r in good],
        "every item has label": [dict(r, label=1) for r in good],
        "cannot fill 5 folds": good[:8],
    }
    for message, items in cases.items():
        with pytest.raises(InterpError, match=message):
            run_probe_sweep(tiny, items, out=tmp_path / "never", **FAST)
        assert not (tmp_path / "never").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("old")
    with pytest.raises(InterpError, match="not an empty directory"):
        run_probe_sweep(tiny, good, out=tmp_path / "full", **FAST)
    with pytest.raises(InterpError, match="positions"):
        run_probe_sweep(tiny, good, positions="mask", **FAST)


@pytest.mark.slow
def test_stories260k_reads_sentiment_above_the_null(stories_path, tmp_path):
    config = json.loads(CONFIG.read_text())
    items = [{"prompt": p, "label": 1} for p in config["positive"]] + [
        {"prompt": p, "label": 0} for p in config["negative"]
    ]
    metrics = run_probe_sweep(
        load_model(stories_path),
        items,
        config["hook_kind"],
        config["positions"],
        config["C"],
        config["folds"],
        tmp_path / "run",
        config["seed"],
        n_perm=config["n_perm"],
        n_boot=config["n_boot"],
        label_names=("sad", "happy"),
    )
    best = metrics["best"]
    assert best["auroc_low"] > best["null_max_p95"]  # the best layer, against the best-layer null
    layer = metrics["layers"][best["layer"]]
    assert best["auroc_low"] > layer["null_p95"]
    assert 0 <= best["norm_auroc"] <= 1 and best["beats_norm"]
    assert all("norm_auroc_low" in row for row in metrics["layers"])
    assert (tmp_path / "run" / "figures" / "probe_auroc_by_layer.png").is_file()
