"""The transfer study runs end to end on small organism-shaped models and refuses bad configs."""

from __future__ import annotations

import json

import pytest

from interp.cli.main import main
from interp.errors import InterpError
from interp.experiments.transfer_config import TransferConfig
from interp.organisms.tokenizer import zoo_tokenizer
from interp.organisms.train import Size, new_model

REQUIRED = [
    "target_unsteered_accuracy",
    "target_steered_accuracy",
    "gain",
    "gain_ci95",
    "random_control_gain_p95",
    "source_unlocked_accuracy",
]


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    root = tmp_path_factory.mktemp("family")
    dirs = {}
    for name, size, seed in [("small", Size(32, 2, 4), 0), ("large", Size(48, 3, 4), 1)]:
        model = new_model(size, seed=seed)
        model.save_pretrained(root / name)
        zoo_tokenizer().save_pretrained(root / name)
        dirs[name] = root / name
    return dirs


def tiny_config(family, **overrides) -> dict:
    config = {
        "source_locked": str(family["small"]),
        "target": str(family["large"]),
        "n_values": [8],
        "ranks": [2, 4],
        "alphas": [0.1, 0.5],
        "n_select": 6,
        "n_test": 8,
        "n_controls": 2,
        "n_bootstrap": 200,
        "max_new_tokens": 6,
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize("contrast", ["prompt", "model"])
def test_transfer_writes_a_complete_run(family, tmp_path, capsys, contrast):
    extra = (
        {"contrast": "model", "source_unlocked": str(family["small"]), "method": "pca"}
        if contrast == "model"
        else {}
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_config(family, **extra)))
    out = tmp_path / "run"
    assert main(["transfer", "--config", str(path), "--out", str(out), "--json"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in REQUIRED:
        assert key in metrics, key
    lo, hi = metrics["gain_ci95"]
    assert lo <= metrics["gain"] <= hi
    assert (
        0 <= metrics["target_unsteered_accuracy"] <= 1 and len(metrics["random_control_gains"]) == 2
    )
    assert {row["rank"] for row in metrics["grid"]} == {2, 4} and len(metrics["grid"]) == 4
    assert set(metrics["fit_quality"]) == {"0", "1", "2"}
    for name in [
        "config.json",
        "report.md",
        "maps.safetensors",
        "source_directions.safetensors",
        "target_directions.safetensors",
        "figures/accuracy_vs_alpha.png",
        "figures/fit_quality.png",
        "figures/controls.png",
    ]:
        assert (out / name).is_file(), name
    assert TransferConfig.from_file(out / "config.json") == TransferConfig.from_dict(
        json.loads(path.read_text())
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"alphas": ["big"]}, "not a positive number"),
        ({"alphas": []}, "non-empty"),
        ({"contrast": "model"}, "source_unlocked"),
        ({"ranks": [2.5]}, "whole number"),
        ({"colour": "blue"}, "unknown fields"),
    ],
)
def test_bad_configs_are_refused(family, change, message):
    with pytest.raises(InterpError, match=message):
        TransferConfig.from_dict(tiny_config(family, **change))


def test_missing_field_and_cli_exit_code(family, tmp_path, capsys):
    config = tiny_config(family)
    del config["target"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["transfer", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
