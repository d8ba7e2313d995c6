"""`interp probe` on a tiny model: the sweep as JSON, a saved probe that knows its model, and bad
input refused in one line with exit status 2 and nothing written."""

from __future__ import annotations

import argparse
import json
import random

import pytest
import torch

from interp.cli import main as cli_main
from interp.cli import probe as probe_cli
from interp.errors import InterpError
from interp.probes import LinearProbe

FAST = ["--permutations", "10", "--bootstrap", "100", "--folds", "3", "--threads", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    """Many small fits: on shared cores a second thread only adds contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def cli(monkeypatch):
    """`interp.cli.main.main` with `probe` registered (a no-op once main.py registers it)."""
    original = cli_main.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "probe" not in commands.choices:
            probe_cli.register(commands)
        return parser

    monkeypatch.setattr(cli_main, "build_parser", build)
    return cli_main.main


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def labelled(n_per_class: int = 12, seed: int = 0, names=("calm", "loud")) -> list[dict]:
    """Strings of random letters; the second class carries !'s (a signal the probe can read)."""
    rng = random.Random(seed)
    records = []
    for i in range(2 * n_per_class):
        chars = [rng.choice("abcdefghij") for _ in range(12)]
        if i % 2:
            for position in rng.sample(range(12), 3):
                chars[position] = "!"
        records.append({"prompt": "".join(chars), "label": names[i % 2]})
    return records


def test_sweep_json_and_a_saved_calibrated_probe(cli, tiny_dirs, tmp_path, capsys):
    data = write_jsonl(tmp_path / "data.jsonl", labelled())
    controls = write_jsonl(tmp_path / "benign.jsonl", [{"prompt": f"hello {i}"} for i in range(60)])
    out, probe_file = tmp_path / "run", tmp_path / "probe.safetensors"
    argv = ["probe", str(tiny_dirs["llama"]), "--data", data, "--out", str(out), *FAST]
    extra = ["--layer", "-1", "--save-probe", str(probe_file), "--calibrate", controls]
    assert cli([*argv, *extra, "--fpr", "0.1", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert [row["layer"] for row in metrics["layers"]] == [0, 1, 2]
    assert metrics["config"]["label_names"] == {"0": "calm", "1": "loud"}
    assert metrics["best"]["auroc"] > 0.9 and "null_max_p95" in metrics["best"]
    assert metrics["probe"]["layer"] == 2 and metrics["probe"]["n_control"] == 60
    assert json.loads((out / "metrics.json").read_text())["probe"]["threshold"] is not None

    model = cli_main.load_model_from_args(
        argparse.Namespace(
            model=str(tiny_dirs["llama"]), backend="hf", device="cpu", dtype="float32",
            tokenizer=None,
        )
    )  # fmt: skip
    probe = LinearProbe.load(probe_file, model=model, hook="blocks.2.hook_resid_post")
    assert probe.threshold == metrics["probe"]["threshold"] and probe.threshold_fpr == 0.1
    other = cli_main.load_model_from_args(
        argparse.Namespace(
            model=str(tiny_dirs["qwen2"]), backend="hf", device="cpu", dtype="float32",
            tokenizer=None,
        )
    )  # fmt: skip
    with pytest.raises(InterpError, match="config hash"):
        LinearProbe.load(probe_file, model=other)


def test_table_output_and_the_best_layer_by_default(cli, tiny_dirs, tmp_path, capsys):
    data = write_jsonl(tmp_path / "data.jsonl", labelled())
    probe_file = tmp_path / "run" / "probe.safetensors"  # inside the run directory is fine
    argv = ["probe", str(tiny_dirs["gpt2"]), "--data", data, "--out", str(tmp_path / "run")]
    assert cli([*argv, *FAST, "--positions", "last", "--save-probe", str(probe_file)]) == 0
    printed = capsys.readouterr().out
    assert "| layer |" in printed and "best layer" in printed
    best = json.loads((tmp_path / "run" / "metrics.json").read_text())["best"]["layer"]
    assert LinearProbe.load(probe_file).layer == best


BAD_DATA = {
    "label 2": ([{"prompt": "a", "label": 2}, {"prompt": "b", "label": 0}], "must be 0 or 1"),
    "three names": ([{"prompt": str(i), "label": "abc"[i % 3]} for i in range(9)], "exactly two"),
    "no label": ([{"prompt": "a", "label": 1}, {"prompt": "b"}], "no label"),
    "float": ([{"prompt": "a", "label": 0.0}, {"prompt": "b", "label": 1.0}], "integers 0/1"),
    "bool": ([{"prompt": "a", "label": True}, {"prompt": "b", "label": False}], "integers 0/1"),
    "one class": ([{"prompt": str(i), "label": 1} for i in range(9)], "every item has label"),
    "too few": (labelled(2), "cannot fill 3 folds"),
    "no response": (labelled(), "needs a response"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_refused_with_nothing_written(
    cli, tiny_dirs, tmp_path, capsys, cli_error, case
):
    records, message = BAD_DATA[case]
    data = write_jsonl(tmp_path / "data.jsonl", records)
    out = tmp_path / "run"
    argv = ["probe", str(tiny_dirs["llama"]), "--data", data, "--out", str(out), *FAST]
    if case == "no response":
        argv += ["--positions", "response"]
    assert cli(argv) == 2
    err = cli_error(capsys.readouterr().err).strip()
    assert err.startswith("interp: error:") and message in err and "\n" not in err
    assert not out.exists()


def test_bad_files_and_options_are_refused(cli, tiny_dirs, tmp_path, capsys, cli_error):
    data = write_jsonl(tmp_path / "data.jsonl", labelled())
    (tmp_path / "plain.txt").write_text("no labels here\nnor here\n")
    (tmp_path / "broken.jsonl").write_text('{"prompt": "a", "label": 0}\n{not json\n')
    small = write_jsonl(tmp_path / "benign.jsonl", [{"prompt": f"hi {i}"} for i in range(20)])
    base = ["probe", str(tiny_dirs["llama"]), "--out", str(tmp_path / "run"), *FAST]
    probe_file = tmp_path / "probe.safetensors"
    cases = [
        (["--data", str(tmp_path / "missing.jsonl")], "does not exist"),
        (["--data", str(tmp_path / "plain.txt")], "no label"),
        (["--data", str(tmp_path / "broken.jsonl")], "not valid JSON"),
        (["--data", data, "--layer", "1"], "no --save-probe"),
        (["--data", data, "--save-probe", str(probe_file), "--layer", "7"], "out of range"),
        # 20 controls cannot set a 1% threshold: the probes module says how many are needed.
        (["--data", data, "--save-probe", str(probe_file), "--calibrate", small], "at least 500"),
    ]
    for extra, message in cases:
        assert cli([*base, *extra]) == 2, extra
        err = cli_error(capsys.readouterr().err).strip()
        assert message in err and "\n" not in err, (extra, err)
        assert not (tmp_path / "run").exists() and not probe_file.exists()


def test_too_few_controls_are_refused_before_any_model_time(cli, tmp_path, monkeypatch, capsys):
    def no_loading(args):
        raise AssertionError("the model was loaded before the control count was checked")

    monkeypatch.setattr(probe_cli, "load_model_from_args", no_loading)
    data = write_jsonl(tmp_path / "data.jsonl", labelled())
    small = write_jsonl(tmp_path / "benign.jsonl", [{"prompt": f"hi {i}"} for i in range(20)])
    argv = ["probe", "organism:add-small", "--data", data, "--out", str(tmp_path / "run")]
    argv += ["--save-probe", str(tmp_path / "p.safetensors"), "--calibrate", small]
    assert cli(argv) == 2
    assert "at least 500" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_probe_below_its_shuffled_label_control_is_saved_with_a_warning(
    cli, tiny_dirs, tmp_path, capsys
):
    # Labels that say nothing about the text: every layer's AUROC sits inside its null.
    records = labelled(seed=3)
    rng = random.Random(5)
    for record in records:
        record["label"] = rng.choice(["calm", "loud"])
    data = write_jsonl(tmp_path / "noise.jsonl", records)
    probe_file = tmp_path / "probe.safetensors"
    argv = ["probe", str(tiny_dirs["llama"]), "--data", data, "--out", str(tmp_path / "run")]
    argv += [*FAST, "--save-probe", str(probe_file), "--json"]
    layers = json.loads(_run_json(cli, argv, capsys))["layers"]
    below = [row["layer"] for row in layers if row["auroc"] < row["null_p95"]]
    assert below, "this seed must give a layer below its control"
    probe_file.unlink()
    (tmp_path / "run2").mkdir()
    argv[5] = str(tmp_path / "run2")
    assert cli([*argv, "--layer", str(below[0])]) == 0
    captured = capsys.readouterr()
    assert "below its shuffled-label control" in captured.err
    assert json.loads(captured.out)["probe"]["warning"].startswith(f"layer {below[0]}")
    assert "below its shuffled-label" in LinearProbe.load(probe_file).warning


def _run_json(cli, argv, capsys) -> str:
    assert cli(argv) == 0
    return capsys.readouterr().out
