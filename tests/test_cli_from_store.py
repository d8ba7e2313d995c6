"""`extract`, `probe` and `align` with --from-store: what they make from a stored capture equals what
they make from a fresh one, and a store of other prompts is refused before anything is written."""

from __future__ import annotations

import json

import pytest
import torch

from interp.align import LayerMaps
from interp.cli.main import main
from interp.directions import DirectionSet

POSITIVE = ["what a happy day", "we laughed and played", "the party was fun", "she smiled brightly"]
NEGATIVE = ["what a sad day", "we cried all alone", "the party was dull", "she frowned darkly"]
FAST = ["--permutations", "10", "--bootstrap", "100", "--folds", "3", "--threads", "1"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(argv, capsys) -> str:
    assert main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def captured(model, prompts, out, hooks, positions, capsys):
    run(["capture", model, "--prompts", prompts, "--hooks", hooks, "--positions", positions,
         "--out", out], capsys)  # fmt: skip
    return out


def test_extract_from_stores_equals_extract_from_the_model(tiny_dirs, tmp_path, capsys):
    (tmp_path / "pos.txt").write_text("\n".join(POSITIVE))
    (tmp_path / "neg.txt").write_text("\n".join(NEGATIVE))
    model = tiny_dirs["llama"]
    stores = [
        captured(model, tmp_path / f"{side}.txt", tmp_path / side, "resid_post", "last", capsys)
        for side in ("pos", "neg")
    ]
    base = [
        "extract",
        model,
        "--positive",
        tmp_path / "pos.txt",
        "--negative",
        tmp_path / "neg.txt",
    ]
    run([*base, "--out", tmp_path / "fresh.safetensors"], capsys)
    run([*base, "--out", tmp_path / "stored.safetensors", "--from-store", *stores], capsys)
    fresh = DirectionSet.load(tmp_path / "fresh.safetensors")
    assert DirectionSet.load(tmp_path / "stored.safetensors") == fresh


def test_probe_from_a_store_equals_probe_from_the_model(tiny_dirs, tmp_path, capsys):
    records = [
        {"prompt": f"{'calm' if i % 2 else 'loud!!'} words number {i}", "label": i % 2}
        for i in range(18)
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    model = tiny_dirs["llama"]
    store = captured(model, data, tmp_path / "acts", "resid_post", "all", capsys)
    base = ["probe", model, "--data", data, *FAST, "--json"]
    fresh = json.loads(run([*base, "--out", tmp_path / "fresh"], capsys))
    stored = json.loads(run([*base, "--out", tmp_path / "stored", "--from-store", store], capsys))
    assert stored["config"].pop("from_store") == str(store)
    assert stored == fresh
    on_disk = json.loads((tmp_path / "stored" / "metrics.json").read_text())
    assert on_disk["layers"] == fresh["layers"] and on_disk["best"] == fresh["best"]


def test_align_from_stores_equals_align_from_the_models(tiny_dirs, tmp_path, capsys):
    prompts = tmp_path / "shared.txt"
    prompts.write_text("\n".join([*POSITIVE, *NEGATIVE, "the box is red", "a train left"]))
    source, target = tiny_dirs["llama"], tiny_dirs["qwen2"]
    stores = [
        captured(spec, prompts, tmp_path / name, "resid_post", "last", capsys)
        for spec, name in ((source, "src"), (target, "tgt"))
    ]
    base = ["align", source, target, "--prompts", prompts, "--rank", "4", "--json"]
    fresh = json.loads(run([*base, "--out", tmp_path / "fresh.safetensors"], capsys))
    stored = json.loads(
        run([*base, "--out", tmp_path / "stored.safetensors", "--from-store", *stores], capsys)
    )
    assert {**stored, "out": None} == {**fresh, "out": None}
    assert LayerMaps.load(tmp_path / "stored.safetensors") == LayerMaps.load(
        tmp_path / "fresh.safetensors"
    )


def test_a_store_of_other_prompts_is_refused_with_nothing_written(
    tiny_dirs, tmp_path, capsys, cli_error
):
    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"p {i}", "label": i % 2}) + "\n" for i in range(8))
    )
    other = tmp_path / "other.txt"
    other.write_text("something else\nentirely\n")
    model = tiny_dirs["llama"]
    store = captured(model, other, tmp_path / "acts", "resid_post", "all", capsys)
    argv = ["probe", model, "--data", data, *FAST, "--out", tmp_path / "run", "--from-store", store]
    assert main([str(a) for a in argv]) == 2
    err = cli_error(capsys.readouterr().err).strip()
    assert "other prompts" in err and "\n" not in err
    assert not (tmp_path / "run").exists()
    missing = [*argv[:-1], tmp_path / "nowhere"]
    assert main([str(a) for a in missing]) == 2
    assert "no activation store" in capsys.readouterr().err
