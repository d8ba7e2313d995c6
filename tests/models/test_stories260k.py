"""The real pretrained stories260K model through the command line: generate, info, convert, bridge."""

from __future__ import annotations

import json

import torch

from interp.cli.main import main
from interp.models.load import load_model

REFERENCE = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high."
)


def test_generate_reproduces_reference_sample(stories_path, capsys):
    code = main(
        ["generate", str(stories_path), "--prompt", "", "--max-new-tokens", "150", "--json"]
    )
    assert code == 0
    text = json.loads(capsys.readouterr().out)["text"]
    assert text.startswith(REFERENCE)


def test_info_reports_layers_and_width(stories_path, capsys):
    assert main(["info", str(stories_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["n_layers"], info["d_model"], info["vocab_size"], info["n_heads"]) == (
        5,
        64,
        512,
        8,
    )


def test_convert_then_load_on_both_backends(stories_path, tmp_path, capsys):
    out = tmp_path / "stories-hf"
    assert main(["convert", str(stories_path), "--out", str(out)]) == 0
    original = load_model(stories_path)
    converted = load_model(out)
    bridged = load_model(out, backend="bridge")
    ids = original.tokenizer("Once upon a time", return_tensors="pt").input_ids
    assert torch.equal(ids, converted.tokenizer("Once upon a time", return_tensors="pt").input_ids)
    torch.testing.assert_close(converted.forward(ids), original.forward(ids), atol=1e-5, rtol=0)
    torch.testing.assert_close(bridged.forward(ids), original.forward(ids), atol=1e-5, rtol=0)


def test_convert_refuses_existing_output_and_leaves_nothing_on_failure(
    stories_path, tmp_path, capsys
):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["convert", str(stories_path), "--out", str(out)]) == 2
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    truncated = tmp_path / "broken.bin"
    truncated.write_bytes(stories_path.read_bytes()[:5000])
    (tmp_path / "tok512.bin").write_bytes((stories_path.parent / "tok512.bin").read_bytes())
    assert main(["convert", str(truncated), "--out", str(tmp_path / "new")]) == 2
    assert "interp: error:" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
