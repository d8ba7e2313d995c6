"""`interp extract`, `interp align` and `interp generate --steer` on tiny models."""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli.main import main
from interp.directions import DirectionSet

POSITIVE = ["what a happy day", "we laughed and played", "the party was fun", "she smiled brightly"]
NEGATIVE = ["what a sad day", "we cried all alone", "the party was dull", "she frowned darkly"]


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "pos.txt").write_text("\n".join(POSITIVE))
    (tmp_path / "neg.txt").write_text("\n".join(NEGATIVE))
    (tmp_path / "shared.txt").write_text(
        "\n".join(
            POSITIVE
            + NEGATIVE
            + ["the box is red", "a train left", "count to ten", "open the door"]
        )
    )
    return tmp_path


def test_extract_then_steer_generation(tiny_dirs, files, capsys):
    out = files / "dirs.safetensors"
    assert (
        main(
            [
                "extract",
                str(tiny_dirs["llama"]),
                "--positive",
                str(files / "pos.txt"),
                "--negative",
                str(files / "neg.txt"),
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    directions = DirectionSet.load(out)
    assert summary["layers"] == [0, 1, 2] and directions.vectors.shape == (3, 32)
    base = [
        "generate",
        str(tiny_dirs["llama"]),
        "--prompt",
        "the day was",
        "--max-new-tokens",
        "8",
        "--json",
    ]
    assert main(base) == 0
    plain = json.loads(capsys.readouterr().out)["token_ids"]
    assert (
        main(
            base
            + [
                "--steer",
                str(out),
                "--alpha",
                "5",
                "--operator",
                "add",
                "--steer-positions",
                "all",
                "--phase",
                "both",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    steered = json.loads(captured.out)
    assert steered["token_ids"] != plain
    # The steer's effect is reported beside the text, so a no-op would not pass unnoticed.
    assert steered["steer_effect"]["kl_mean"] > 0 and "moved the next-token" in captured.err


def test_steering_a_model_of_another_width_is_refused(tiny_dirs, files, capsys):
    out = files / "dirs.safetensors"
    main(
        [
            "extract",
            str(tiny_dirs["llama"]),
            "--positive",
            str(files / "pos.txt"),
            "--negative",
            str(files / "neg.txt"),
            "--out",
            str(out),
        ]
    )
    from interp.models.tiny import save_tiny_model

    wide = save_tiny_model(files / "wide", "llama", d_model=48, n_layers=3)
    capsys.readouterr()
    assert main(["generate", str(wide), "--prompt", "x", "--steer", str(out)]) == 2
    err = capsys.readouterr().err
    assert "32" in err and "48" in err


def test_extract_refuses_unpaired_files(tiny_dirs, files, capsys):
    (files / "short.txt").write_text("one\n")
    code = main(
        [
            "extract",
            str(tiny_dirs["llama"]),
            "--positive",
            str(files / "pos.txt"),
            "--negative",
            str(files / "short.txt"),
            "--out",
            str(files / "x.safetensors"),
        ]
    )
    assert code == 2 and "pairs items" in capsys.readouterr().err
    assert not (files / "x.safetensors").exists()


def test_align_reports_held_out_quality(tiny_dirs, files, capsys):
    out = files / "maps.safetensors"
    code = main(
        [
            "align",
            str(tiny_dirs["llama"]),
            str(tiny_dirs["qwen2"]),
            "--prompts",
            str(files / "shared.txt"),
            "--rank",
            "4",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["held_out"] == 3 and set(report["quality"]) == {"0", "1", "2"}
    assert all(
        -10 < q["r2"] <= 1 and -1 <= q["mean_cosine"] <= 1 for q in report["quality"].values()
    )
    from interp.align import LayerMaps

    maps = LayerMaps.load(out)
    assert maps.maps[0][0] == 0 and maps.maps[2][0] == 2
    transferred = maps.apply(
        DirectionSet.from_contrast(
            {
                "blocks.0.hook_resid_post": torch.randn(4, 32),
                "blocks.1.hook_resid_post": torch.randn(4, 32),
                "blocks.2.hook_resid_post": torch.randn(4, 32),
            },
            {
                "blocks.0.hook_resid_post": torch.randn(4, 32),
                "blocks.1.hook_resid_post": torch.randn(4, 32),
                "blocks.2.hook_resid_post": torch.randn(4, 32),
            },
            model=maps.source,
        )
    )
    assert transferred.vectors.shape == (3, 32)
