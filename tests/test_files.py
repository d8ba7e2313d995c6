"""Atomic writes: the target is either the old file or the whole new one, and no temp file remains."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from safetensors import safe_open

from interp import files as atomic
from interp.errors import InterpError
from interp.files import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    is_temp_file,
    remove_stale_temp_files,
    save_safetensors_atomic,
)


def leftovers(directory):
    return [p.name for p in directory.rglob("*") if is_temp_file(p)]


def test_json_is_sorted_indented_with_trailing_newline(tmp_path):
    path = tmp_path / "sub" / "metrics.json"  # parent is created
    atomic_write_json(path, {"b": 1, "a": [1, 2]})
    text = path.read_text()
    assert text == json.dumps({"a": [1, 2], "b": 1}, indent=2, sort_keys=True) + "\n"
    assert leftovers(tmp_path) == []


def test_text_and_bytes_round_trip_and_overwrite(tmp_path):
    atomic_write_text(tmp_path / "r.md", "old\n")
    atomic_write_text(tmp_path / "r.md", "nëw\n")
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == "nëw\n"
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch, error):
    path = tmp_path / "config.json"
    atomic_write_json(path, {"v": 1})

    def fail(_path):
        raise error  # after the data is written, before the rename

    monkeypatch.setattr(atomic, "_fsync_file", fail)
    with pytest.raises(type(error)):
        atomic_write_json(path, {"v": 2})
    with pytest.raises(type(error)):
        atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert json.loads(path.read_text()) == {"v": 1}
    assert not (tmp_path / "new.bin").exists()
    assert leftovers(tmp_path) == []


def test_unserialisable_json_fails_before_touching_disk(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert leftovers(tmp_path) == []


def test_safetensors_round_trip_contiguous_and_metadata(tmp_path):
    m = torch.arange(12.0).reshape(3, 4)
    path = tmp_path / "d.safetensors"
    # A transposed view (not contiguous) and the same tensor under two names both save.
    save_safetensors_atomic(path, {"t": m.T, "a": m, "b": m}, {"kind": "direction_set"})
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == {"kind": "direction_set"}
        assert torch.equal(f.get_tensor("t"), m.T)
        assert torch.equal(f.get_tensor("b"), m)


def test_safetensors_metadata_must_be_strings(tmp_path):
    with pytest.raises(TypeError, match="n_items"):
        save_safetensors_atomic(tmp_path / "x.safetensors", {"v": torch.ones(2)}, {"n_items": 3})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_safetensors_half_written_then_failure(tmp_path, monkeypatch, error):
    path = tmp_path / "d.safetensors"
    save_safetensors_atomic(path, {"v": torch.ones(3)})
    before = path.read_bytes()

    def half_then_fail(tensors, filename, metadata=None):
        data = safetensors.torch.save(tensors, metadata=metadata)
        with open(filename, "wb") as f:
            f.write(data[: len(data) // 2])
        raise error

    monkeypatch.setattr(atomic, "save_file", half_then_fail)
    with pytest.raises(type(error)):
        save_safetensors_atomic(path, {"v": torch.zeros(1000)})
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_atomic_directory_appears_whole(tmp_path):
    final = tmp_path / "run"
    with atomic_directory(final) as tmp:
        assert not final.exists()
        atomic_write_json(tmp / "config.json", {"seed": 0})
        atomic_write_text(tmp / "figures" / "note.txt", "x")
    assert json.loads((final / "config.json").read_text()) == {"seed": 0}
    assert (final / "figures" / "note.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("error", [ValueError("bad"), KeyboardInterrupt()])
def test_atomic_directory_leaves_nothing_on_failure(tmp_path, error):
    with pytest.raises(type(error)):
        with atomic_directory(tmp_path / "run") as tmp:
            atomic_write_text(tmp / "half.txt", "x")
            raise error
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_refuses_non_empty_and_reuses_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InterpError, match="not empty"):
        with atomic_directory(tmp_path / "full"):
            pytest.fail("the block must not run")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []

    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty") as tmp:
        atomic_write_text(tmp / "a.txt", "a")
    assert (tmp_path / "empty" / "a.txt").read_text() == "a"


def test_remove_stale_temp_files(tmp_path):
    (tmp_path / ".index.json.abcd.tmp").write_text("half")
    (tmp_path / ".run.abcd.tmp").mkdir()
    (tmp_path / "index.json").write_text("{}")
    removed = remove_stale_temp_files(tmp_path)
    assert len(removed) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]
