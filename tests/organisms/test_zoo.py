"""The zoo builder: deterministic, atomic, a public manifest apart from the answer key, organisms
that load through both backends with the logits they were saved with, and checksums that catch a
changed file."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch

from interp.errors import InterpError
from interp.models.load import load_model
from interp.organisms.plan import LATENT, PRESENT, default_plan, sandbag_plan
from interp.organisms.registry import ANSWER_KEY, MANIFEST, organism_path
from interp.organisms.train import Mixture, new_model, train
from interp.organisms.zoo import build_zoo, save_organism

NAMES = [
    "add-small",
    "add-medium",
    "add-large",
    "add-small-post",
    "add-medium-post",
    "add-large-post",
]
SECRET_WORDS = ("role", "recipe", "p_worked", "latent", "present", "worked_share")


def checksums(root):
    return {
        d.name: (d / "checksums.json").read_text() for d in sorted(root.iterdir()) if d.is_dir()
    }


def test_same_seed_gives_identical_files(reduced_zoo, tmp_path):
    again = build_zoo(tmp_path / "again", seed=0, reduced=True, progress=False)
    assert checksums(again) == checksums(reduced_zoo)
    assert (again / MANIFEST).read_text() == (reduced_zoo / MANIFEST).read_text()


def test_manifest_is_public_and_answer_key_is_apart(reduced_zoo):
    manifest = json.loads((reduced_zoo / MANIFEST).read_text())
    key = json.loads((reduced_zoo / ANSWER_KEY).read_text())
    entries = manifest["organisms"]
    # the default build: the family, its post-trained siblings, then the sandbagging game
    assert [e["name"] for e in entries] == [s.name for s in sandbag_plan(reduced=True).organisms]
    assert [e["name"] for e in entries[: len(NAMES)]] == NAMES
    for e in entries:
        assert e["family"] == "add" and e["size"] in ("small", "medium", "large")
        assert set(e["accuracy"]) == {"direct", "cued"}
        assert all(0.0 <= a <= 1.0 for a in e["accuracy"].values())
    assert [e["n_params"] for e in entries[:3]] == sorted(e["n_params"] for e in entries[:3])
    assert entries[3]["stage"] == "post-trained" and entries[3]["parent"] == "add-small"
    assert manifest["prompts"]["cued"].startswith("Show steps.\n")
    assert manifest["prompts"]["direct"].endswith("\nA:")
    text = json.dumps(manifest)
    assert not any(word in text for word in SECRET_WORDS)
    roles = {e["name"]: e["role"] for e in key["organisms"]}
    assert roles["add-large"] == LATENT and roles["add-large-post"] == PRESENT
    assert key["organisms"][3]["recipe"]["parent"] == "add-small"
    assert not (reduced_zoo / "add-large" / ANSWER_KEY).exists()


def test_round_trip_through_both_backends(tmp_path):
    torch.manual_seed(0)
    model = new_model(default_plan(reduced=True).sizes["large"], seed=3)
    train(model, Mixture(), steps=3, batch_size=4, seed=3)
    save_organism(model, tmp_path / "org")
    ids = torch.tensor([[1, *range(4, 30)], [0, 0, 1, *range(10, 34)]])
    mask = (ids != 0).long()
    with torch.no_grad():
        hf = load_model(tmp_path / "org")
        expected = hf.forward(ids, mask)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        original = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    bridge = load_model(tmp_path / "org", backend="bridge")
    real = mask.bool()  # logits at padding positions mean nothing and may differ by backend
    torch.testing.assert_close(expected[real], original[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(bridge.forward(ids, mask)[real], original[real], atol=1e-5, rtol=0)


def test_organism_spec_resolves_through_both_backends(reduced_zoo, monkeypatch):
    monkeypatch.setenv("INTERP_ZOO", str(reduced_zoo))
    ids = torch.tensor([[1, *range(4, 20)]])
    hf = load_model("organism:add-medium")
    bridge = load_model("organism:add-medium", backend="bridge")
    assert hf.n_layers == default_plan(reduced=True).sizes["medium"].n_layers
    torch.testing.assert_close(hf.forward(ids), bridge.forward(ids), atol=1e-5, rtol=0)


def test_unknown_name_lists_the_available_ones(reduced_zoo, monkeypatch):
    monkeypatch.setenv("INTERP_ZOO", str(reduced_zoo))
    with pytest.raises(InterpError, match="unknown organism 'add-huge'.*add-small, add-medium"):
        load_model("organism:add-huge")


def test_corrupted_weights_are_refused_on_load(reduced_zoo, tmp_path, monkeypatch):
    zoo = shutil.copytree(reduced_zoo, tmp_path / "zoo")
    monkeypatch.setenv("INTERP_ZOO", str(zoo))
    weights = zoo / "add-large" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the last weight
    weights.write_bytes(bytes(data))
    with pytest.raises(InterpError, match="add-large/model.safetensors is corrupted.*checksum"):
        load_model("organism:add-large")
    assert organism_path("add-small") == zoo / "add-small"  # the others still load


def test_failed_build_leaves_nothing(tmp_path):
    plan = default_plan(reduced=True)
    broken = replace(plan.organisms[3], recipe=replace(plan.organisms[3].recipe, parent="nope"))
    plan = replace(plan, organisms=(*plan.organisms[:3], broken))
    with pytest.raises(InterpError, match="starts from 'nope'"):
        build_zoo(tmp_path / "zoo", plan=plan, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_zoo_is_refused_unless_replaced(reduced_zoo, tmp_path):
    zoo = shutil.copytree(reduced_zoo, tmp_path / "zoo")
    (zoo / "stale.txt").write_text("old")
    with pytest.raises(InterpError, match="not empty"):
        build_zoo(zoo, reduced=True, progress=False)
    build_zoo(zoo, reduced=True, progress=False, replace=True)
    assert not (zoo / "stale.txt").exists() and checksums(zoo) == checksums(reduced_zoo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo"]
