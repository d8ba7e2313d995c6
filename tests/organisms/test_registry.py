"""Organism lookup: unknown names list the zoo, changed files are caught by checksum."""

from __future__ import annotations

import json

import pytest

from interp.errors import InterpError
from interp.organisms.registry import (
    load_manifest,
    organism_path,
    verify_checksums,
    write_checksums,
)


@pytest.fixture()
def zoo(tmp_path, monkeypatch):
    for name in ("alpha", "beta"):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text('{"a": 1}')
        (d / "model.safetensors").write_bytes(b"\x00weights" * 10)
        write_checksums(d)
    manifest = {"organisms": [{"name": "alpha"}, {"name": "beta"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("INTERP_ZOO", str(tmp_path))
    return tmp_path


def test_known_name_resolves(zoo):
    assert organism_path("alpha") == zoo / "alpha"
    assert [e["name"] for e in load_manifest()["organisms"]] == ["alpha", "beta"]


def test_unknown_name_lists_the_available_ones(zoo):
    with pytest.raises(InterpError, match="unknown organism 'gamma'.*alpha, beta"):
        organism_path("gamma")


def test_corrupted_file_is_detected(zoo):
    weights = zoo / "beta" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")
    with pytest.raises(InterpError, match="corrupted.*model.safetensors.*interp organisms build"):
        organism_path("beta")
    assert organism_path("beta", verify=False) == zoo / "beta"


def test_missing_and_extra_files_are_detected(zoo):
    (zoo / "alpha" / "config.json").unlink()
    with pytest.raises(InterpError, match="missing"):
        verify_checksums(zoo / "alpha")
    (zoo / "beta" / "stray.bin").write_bytes(b"x")
    with pytest.raises(InterpError, match="not built with.*stray.bin"):
        verify_checksums(zoo / "beta")


def test_no_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_ZOO", str(tmp_path / "nowhere"))
    with pytest.raises(InterpError, match="no organism zoo"):
        organism_path("alpha")
