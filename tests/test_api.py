"""The Python API gives what the command line gives, and takes a config however it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import interp
from interp.api import run_dir, study_config
from interp.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    return interp.load_model("organism:add-small")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "shared.txt"
    path.write_text("\n".join(f"Q:{a}+{a + 1}=?" for a in range(16)))
    return path


@pytest.mark.parametrize(
    "kind",
    [interp.TransferConfig, interp.AuditConfig, interp.ProbeTransferConfig],
)
def test_a_config_is_the_dataclass_a_dict_or_a_json_file(kind, tmp_path):
    example = {
        interp.TransferConfig: "transfer_organisms.json",
        interp.AuditConfig: "audit_organisms.json",
        interp.ProbeTransferConfig: "truth_probe/config.json",
    }[kind]
    path = ROOT / "examples" / example
    from_file = study_config(kind, path)
    raw = json.loads(path.read_text())
    assert study_config(kind, raw) == from_file == study_config(kind, from_file)
    assert study_config(kind, str(path)) == from_file


def test_a_bad_config_is_refused_before_any_work():
    with pytest.raises(interp.InterpError, match="unknown fields"):
        interp.transfer({"source_locked": "a", "target": "b", "alpha": 1})
    with pytest.raises(interp.InterpError, match="the config is an int"):
        interp.audit(3)
    with pytest.raises(interp.InterpError, match="does not exist"):
        interp.probe_transfer("no/such/config.json")
    with pytest.raises(interp.InterpError, match="missing"):
        interp.align_models({"prompts": "p.txt"})
    with pytest.raises(interp.InterpError, match="no model"):
        interp.probe({"data": "labelled.jsonl"})


def test_without_out_a_study_leaves_no_run_directory():
    with run_dir(None, resume=False) as path:
        path.mkdir()
        (path / "metrics.json").write_text("{}")
        temporary = path.parent
    assert not temporary.exists()
    with pytest.raises(interp.InterpError, match="resume"):
        with run_dir(None, resume=True):
            pass


def test_extract_directions_equals_interp_extract(small, tmp_path, capsys):
    positive = [f"Show steps.\nQ:{a}+2=?\nA:" for a in range(4)]
    negative = [f"Q:{a}+2=?\nA:" for a in range(4)]
    files = []
    for name, side in (("pos.jsonl", positive), ("neg.jsonl", negative)):
        (tmp_path / name).write_text("\n".join(json.dumps({"prompt": p}) for p in side))
        files.append(str(tmp_path / name))
    out = tmp_path / "dirs.safetensors"
    argv = ["extract", "organism:add-small", "--positive", *files[:1], "--negative", files[1]]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    from_cli = interp.DirectionSet.load(out, model=small)
    from_python = interp.extract_directions(small, positive, negative)
    assert torch.equal(from_cli.vectors, from_python.vectors)
    assert (
        from_cli.layers == from_python.layers and from_cli.dataset_hash == from_python.dataset_hash
    )


def test_align_models_takes_loaded_models_or_specs(small, prompts, tmp_path):
    medium = interp.load_model("organism:add-medium")
    options = {"prompts": str(prompts), "rank": 4, "holdout": 0.25}
    loaded = interp.align_models(
        options, tmp_path / "maps.safetensors", source=small, target=medium
    )
    named = interp.align_models(
        {**options, "source": "organism:add-small", "target": "organism:add-medium"}
    )
    assert named.out is None and loaded.out == str(tmp_path / "maps.safetensors")
    assert [q.r2 for q in loaded.quality] == [q.r2 for q in named.quality]
    read = interp.LayerMaps.load(tmp_path / "maps.safetensors")
    assert sorted(read.maps) == sorted(named.maps.maps) == [0, 1, 2]


def test_steered_is_steering_with_the_directions_steers(small):
    ds = interp.extract_directions(small, ["Show steps.\nQ:1+2=?\nA:"], ["Q:1+2=?\nA:"])
    ids = torch.tensor([[1, 20, 30, 40]])
    clean = small.forward(ids)
    with interp.steered(small, ds, "add", alpha=2.0, positions="all", phase="both") as steers:
        via_directions = small.forward(ids)
    with interp.steering(small, steers):
        via_steers = small.forward(ids)
    assert len(steers) == 2 and torch.equal(via_directions, via_steers)
    assert not torch.equal(via_directions, clean) and torch.equal(small.forward(ids), clean)


def test_a_fitted_probe_scores_its_own_items_apart(small):
    data = [{"prompt": f"Show steps.\nQ:{a}+2=?", "label": 1} for a in range(6)]
    data += [{"prompt": f"Q:{a}+2=?", "label": 0} for a in range(6)]
    probe = interp.fit_probe(small, data, layer=1, positions="last")
    scored = interp.score_probe(small, probe, data, positions="last")
    assert scored.n_scored == 12 and scored.flag_share is None
    assert bool(scored.scores[:6].min() > scored.scores[6:].max())
    with pytest.raises(interp.InterpError, match="unknown probe method"):
        interp.fit_probe(small, data, layer=1, method="svm")
