"""Provenance: hashes that are stable where they should be, and mismatches that name what differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import interp
from interp.errors import InterpError
from interp.hashing import config_hash
from interp.store.provenance import (
    check_provenance,
    dataset_hash,
    library_version,
    make_provenance,
)


def test_config_hash_ignores_key_order_at_every_level():
    a = {"hidden_size": 64, "rope": {"theta": 1e4, "type": "default"}, "layers": 2}
    b = {"layers": 2, "rope": {"type": "default", "theta": 1e4}, "hidden_size": 64}
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 16 and int(config_hash(a), 16) >= 0


def test_config_hash_differs_for_different_values():
    base = {"hidden_size": 64, "layers": 2}
    assert config_hash(base) != config_hash({**base, "hidden_size": 65})
    assert config_hash(base) != config_hash({**base, "layers": "2"})  # type matters
    assert config_hash({"rope": {"theta": 1.0}}) != config_hash({"rope": {"theta": 2.0}})


def test_config_hash_accepts_values_json_cannot_hold():
    config = {"dtype_used": torch.float16, "path": Path("/m"), "ids": {3, 1}, 0: "int key"}
    assert config_hash(config) == config_hash(dict(reversed(list(config.items()))))
    assert config_hash({"x": torch.tensor(3)}) == config_hash({"x": 3})


def test_config_hash_ignores_where_and_how_a_model_was_loaded():
    config = {"hidden_size": 64}
    loaded = {**config, "_name_or_path": "/a/b", "transformers_version": "5.0", "dtype": "bf16"}
    assert config_hash(loaded) == config_hash(config)
    assert config_hash(loaded, ignore=()) != config_hash(config)


def test_dataset_hash_is_order_and_boundary_sensitive():
    assert dataset_hash(["a", "b"]) != dataset_hash(["b", "a"])
    assert dataset_hash(["ab"]) != dataset_hash(["a", "b"])
    assert dataset_hash([{"prompt": "x", "label": 1}]) == dataset_hash(
        [{"label": 1, "prompt": "x"}]
    )
    assert dataset_hash(iter(["a"])) == dataset_hash(["a"])


def make(**over):
    args = dict(
        kind="activations",
        model_spec="organism:tiny",
        model_config_hash="0123abcd0123abcd",
        hooks=["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"],
        positions="last",
        dtype=torch.float32,
        dataset_hash="ff" * 32,
        n_items=12,
    )
    return make_provenance(**{**args, **over})


def test_make_provenance_is_all_strings():
    prov = make(extra={"labels": json.dumps(["a", "b"])})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in prov.items())
    assert json.loads(prov["hooks"]) == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert prov["dtype"] == "float32" and prov["n_items"] == "12"
    assert prov["interp_version"] == library_version() == interp.__version__
    assert prov["created_utc"].endswith("Z")
    assert json.loads(prov["labels"]) == ["a", "b"]


def test_make_provenance_refuses_bad_extra():
    with pytest.raises(TypeError, match="seed"):
        make(extra={"seed": 3})
    with pytest.raises(ValueError, match="kind"):
        make(extra={"kind": "other"})


def test_check_provenance_names_each_key_and_both_values():
    found, expected = make(), make(model_config_hash="ffff0000ffff0000", positions="all")
    check_provenance(found, found, ["model_config_hash", "positions"], what="probe p.safetensors")
    with pytest.raises(InterpError) as err:
        check_provenance(
            found, expected, ["model_config_hash", "positions", "hooks"], what="probe p.safetensors"
        )
    message = str(err.value)
    assert "probe p.safetensors" in message
    assert "model_config_hash" in message and "0123abcd0123abcd" in message
    assert "ffff0000ffff0000" in message
    assert "positions: 'last' vs 'all'" in message
    assert "hooks:" not in message  # equal keys are not reported


def test_check_provenance_reports_missing_keys():
    with pytest.raises(InterpError, match="layer: '<missing>' vs '3'"):
        check_provenance({}, {"layer": "3"}, ["layer"], what="direction set")
