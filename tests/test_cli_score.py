"""`interp score`: a saved probe applied to a tiny model's transcripts scores what the probe's own
arithmetic gives, flags what lies above its threshold, and refuses a probe that does not fit."""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli.main import main
from interp.models.load import load_model
from interp.models.tiny import save_tiny_model
from interp.probes import LinearProbe
from interp.probes.logistic import Standardizer
from interp.store.artifacts import ModelRef

HOOK = "blocks.1.hook_resid_post"
RECORDS = [
    {"prompt": "the cat sat", "response": " on the mat"},
    {"prompt": "a dog", "response": " ran far away"},
    {"prompt": "one", "response": " two three four five"},
    {"prompt": "hello", "response": " world"},
]


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.fixture()
def probe_file(tiny_dirs, tmp_path) -> str:
    model = load_model(str(tiny_dirs["llama"]))
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(model.d_model, generator=generator, dtype=torch.float64)
    probe = LinearProbe(
        weight, Standardizer.identity(model.d_model), bias=0.25, hook=HOOK, model=ModelRef.of(model)
    )
    return str(probe.save(tmp_path / "probe.safetensors"))


def test_scores_and_flags_match_the_probe_arithmetic(tiny_dirs, probe_file, tmp_path, capsys):
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    probe = LinearProbe.load(probe_file)
    model = load_model(str(tiny_dirs["llama"]))
    tokenizer = model.tokenizer
    w_raw, b_raw = probe.effective_weight()
    expected = []
    for record in RECORDS:
        prompt_ids = tokenizer(record["prompt"]).input_ids
        full_ids = tokenizer(record["prompt"] + record["response"]).input_ids
        with torch.no_grad():
            hidden = model.hf(torch.tensor([full_ids]), output_hidden_states=True).hidden_states
        start = next(  # the response starts where the two encodings part
            (i for i, (a, b) in enumerate(zip(prompt_ids, full_ids, strict=False)) if a != b),
            min(len(prompt_ids), len(full_ids)),
        )
        resid = hidden[2][0, start:].double()  # after block 1, the response tokens
        expected.append(float((resid @ w_raw + b_raw).mean()))
    ranked = sorted(expected)
    # Two of the four above it, halfway between scores: a threshold on a score itself would make
    # that response's flag depend on float rounding (the command scores in float32).
    threshold = (ranked[1] + ranked[2]) / 2
    calibrated = probe.with_threshold(threshold, fpr=0.05, n_control=100)
    calibrated.save(probe_file)

    out = tmp_path / "scores.jsonl"
    argv = ["score", str(tiny_dirs["llama"]), "--probe", probe_file, "--data", data]
    assert main([*argv, "--out", str(out), "--json", "--bootstrap", "200"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    got = [row["score"] for row in rows]
    assert summary["positions"] == "response" and summary["n_scored"] == 4
    assert got == pytest.approx(expected, abs=1e-4)
    assert [row["flagged"] for row in rows] == [s > threshold for s in expected]
    assert summary["flag_share"] == 0.5
    assert summary["flag_share_ci95"][0] <= 0.5 <= summary["flag_share_ci95"][1]


def test_a_probe_that_does_not_fit_the_model_is_refused(
    tiny_dirs, probe_file, tmp_path, capsys, cli_error
):
    data = write_jsonl(tmp_path / "t.jsonl", RECORDS)
    narrow = save_tiny_model(tmp_path / "narrow", "llama", d_model=16, n_layers=3, n_heads=4)
    out = tmp_path / "scores.jsonl"
    cases = [
        ([str(narrow)], "16"),  # another width
        ([str(tiny_dirs["gpt2"])], "--any-config"),  # same width, another configuration
    ]
    for model_args, expected in cases:
        argv = ["score", *model_args, "--probe", probe_file, "--data", data, "--out", str(out)]
        assert main(argv) == 2
        err = cli_error(capsys.readouterr().err)
        assert err.startswith("interp: error:") and expected in err and len(err.splitlines()) == 1
        assert not out.exists()
    argv = ["score", str(tiny_dirs["gpt2"]), "--probe", probe_file, "--data", data]
    assert main([*argv, "--any-config", "--json", "--bootstrap", "50"]) == 0
    assert json.loads(capsys.readouterr().out)["n_scored"] == 4


def test_bad_files_and_positions_are_refused(tiny_dirs, probe_file, tmp_path, capsys, cli_error):
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\nthe cat\n")
    model = str(tiny_dirs["llama"])
    cases = [
        (["--probe", str(tmp_path / "missing.safetensors"), "--data", str(prompts)], "no probe"),
        (["--probe", str(prompts), "--data", str(prompts)], "safetensors"),
        (["--probe", probe_file, "--data", str(tmp_path / "none.txt")], "does not exist"),
        (["--probe", probe_file, "--data", str(prompts), "--positions", "response"], "response"),
        (["--probe", probe_file, "--data", str(prompts), "--out", str(tmp_path)], "directory"),
    ]
    for extra, expected in cases:
        assert main(["score", model, *extra]) == 2
        err = cli_error(capsys.readouterr().err)
        assert err.startswith("interp: error:") and expected in err, err
    assert main(["score", model, "--probe", probe_file, "--data", str(prompts)]) == 0
    assert "2 of 2 items scored" in capsys.readouterr().out
