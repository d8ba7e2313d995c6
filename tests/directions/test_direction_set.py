"""DirectionSet: built from a contrast keyed by hook names, algebra, files, and model checks."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from interp.directions import DirectionSet, mean_difference, pca_of_differences
from interp.errors import InterpError
from interp.store.artifacts import ModelRef

MODEL = ModelRef(spec="organism:tiny", config_hash="aaaa1111", d_model=16, n_layers=4)


def contrast(n: int = 10, layers=(0, 2, 3), d: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pos = {f"blocks.{layer}.hook_resid_post": torch.randn(n, d, generator=g) for layer in layers}
    neg = {name: torch.randn(n, d, generator=g) for name in pos}
    return pos, neg


def make(seed: int = 0, layers=(0, 2, 3), model: ModelRef = MODEL) -> DirectionSet:
    g = torch.Generator().manual_seed(seed)
    return DirectionSet(
        torch.randn(len(layers), model.d_model, generator=g),
        layers,
        model,
        method="mean_difference",
        dataset_hash="d" * 8,
        count=10,
    )


# ---- building ----------------------------------------------------------------------------


def test_from_contrast_aggregates_each_hook_in_layer_order():
    pos, neg = contrast()
    # Keys out of order and one negative layer (-1 is layer 3 of a 4-layer model).
    pos = {"blocks.-1.hook_resid_post": pos["blocks.3.hook_resid_post"], **pos}
    neg = {"blocks.-1.hook_resid_post": neg["blocks.3.hook_resid_post"], **neg}
    del pos["blocks.3.hook_resid_post"], neg["blocks.3.hook_resid_post"]
    ds = DirectionSet.from_contrast(pos, neg, model=MODEL, dataset_hash="abc")
    assert ds.layers == (0, 2, 3) and ds.hook == "resid_post"
    assert ds.hook_names == [f"blocks.{i}.hook_resid_post" for i in (0, 2, 3)]
    assert torch.equal(
        ds.vector(3),
        mean_difference(pos["blocks.-1.hook_resid_post"], neg["blocks.-1.hook_resid_post"]),
    )
    assert torch.equal(
        ds.vector(0),
        mean_difference(pos["blocks.0.hook_resid_post"], neg["blocks.0.hook_resid_post"]),
    )
    assert (ds.model, ds.method, ds.dataset_hash, ds.count) == (MODEL, "mean_difference", "abc", 10)


def test_from_contrast_with_other_methods_and_counts():
    pos, neg = contrast(n=12)
    ds = DirectionSet.from_contrast(pos, neg, method="pca_of_differences", model=MODEL)
    name = "blocks.2.hook_resid_post"
    assert torch.equal(ds.vector(2), pca_of_differences(pos[name], neg[name]))
    unpaired = {k: v[:5] for k, v in neg.items()}
    ds = DirectionSet.from_contrast(pos, unpaired, method="class_mean_difference", model=MODEL)
    assert ds.count == 12 + 5  # unpaired: every row is its own item


def test_from_contrast_refuses_bad_keys_and_methods():
    pos, neg = contrast()
    with pytest.raises(InterpError, match="different hooks.*blocks.3.hook_resid_post"):
        DirectionSet.from_contrast(pos, {k: v for k, v in neg.items() if "3" not in k}, model=MODEL)
    mixed_pos = {**pos, "blocks.1.hook_mlp_out": torch.randn(10, 16)}
    mixed_neg = {**neg, "blocks.1.hook_mlp_out": torch.randn(10, 16)}
    with pytest.raises(InterpError, match="one hook kind.*mlp_out"):
        DirectionSet.from_contrast(mixed_pos, mixed_neg, model=MODEL)
    with pytest.raises(InterpError, match="unknown direction method"):
        DirectionSet.from_contrast(pos, neg, method="median", model=MODEL)
    with pytest.raises(InterpError, match="out of range"):
        DirectionSet.from_contrast(*contrast(layers=(7,)), model=MODEL)
    with pytest.raises(InterpError, match="8 wide but the model's d_model is 16"):
        DirectionSet.from_contrast(*contrast(d=8), model=MODEL)


def test_constructor_validates_its_invariants():
    with pytest.raises(InterpError, match="3 direction rows for 2 layers"):
        DirectionSet(torch.randn(3, 16), (0, 1), MODEL)
    with pytest.raises(InterpError, match="not strictly increasing"):
        DirectionSet(torch.randn(2, 16), (2, 1), MODEL)
    with pytest.raises(InterpError, match="outside the model's 4 layers"):
        DirectionSet(torch.randn(1, 16), (4,), MODEL)
    with pytest.raises(InterpError, match="unknown hook kind"):
        DirectionSet(torch.randn(1, 16), (0,), MODEL, hook="resid")


# ---- algebra -----------------------------------------------------------------------------


def test_algebra_is_elementwise_on_the_vectors():
    a, b = make(0), make(1)
    assert torch.equal((a + b).vectors, a.vectors + b.vectors)
    assert torch.equal((a - b).vectors, a.vectors - b.vectors)
    assert torch.equal((2.5 * a).vectors, a.vectors * 2.5)
    assert torch.equal((a * 2.5).vectors, a.vectors * 2.5)
    assert torch.equal((a / 4).vectors, a.vectors / 4)
    assert torch.equal((-a).vectors, -a.vectors)
    assert (a - b).method == "(mean_difference) - (mean_difference)"
    assert (a + b).layers == a.layers and (a + b).model == MODEL


def test_algebra_refuses_mismatched_sets():
    a = make(0)
    with pytest.raises(InterpError, match=r"layers \[0, 2, 3\].*vs layers \[0, 1, 3\]"):
        a + make(1, layers=(0, 1, 3))
    wide = ModelRef("other", "aaaa1111", 32, 4)
    with pytest.raises(InterpError, match="16 wide.*32 wide"):
        a - make(1, model=wide)
    sibling = ModelRef("sibling", "bbbb2222", 16, 4)
    with pytest.raises(InterpError, match="different models.*aaaa1111.*bbbb2222"):
        a + make(1, model=sibling)
    with pytest.raises(TypeError):
        a * a  # noqa: B018


def test_normalized_vector_and_dict_views():
    ds = DirectionSet(torch.tensor([[3.0, 4.0] + [0.0] * 14, [0.0] * 16]), (1, 2), MODEL)
    unit = ds.normalized()
    assert torch.allclose(unit.vector(1)[:2], torch.tensor([0.6, 0.8]))
    assert torch.equal(unit.vector(2), torch.zeros(16))  # a zero vector stays zero
    assert torch.equal(ds.vector(-2), ds.vector(2))  # -2 is layer 2 of a 4-layer model
    assert list(ds.as_dict()) == ["blocks.1.hook_resid_post", "blocks.2.hook_resid_post"]
    with pytest.raises(InterpError, match=r"no layer 0; it covers \[1, 2\]"):
        ds.vector(0)


# ---- files -------------------------------------------------------------------------------


def test_save_load_round_trip_is_exact(tmp_path):
    ds = make(3)
    path = ds.save(tmp_path / "sub" / "d.safetensors")
    loaded = DirectionSet.load(path)
    assert loaded == ds
    assert torch.equal(loaded.vectors, ds.vectors)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["kind"] == "direction_set"
    assert all(isinstance(v, str) for v in meta.values())
    assert json.loads(meta["layers"]) == [0, 2, 3]
    assert (meta["model_spec"], meta["model_config_hash"], meta["model_d_model"]) == (
        "organism:tiny",
        "aaaa1111",
        "16",
    )
    assert meta["n_items"] == "10" and meta["hook"] == "resid_post"


def test_load_refuses_other_files(tmp_path):
    other = tmp_path / "map.safetensors"
    save_file({"matrix": torch.zeros(2, 2)}, str(other), metadata={"kind": "alignment_map"})
    with pytest.raises(InterpError, match="is not a direction set: it is a 'alignment_map' file"):
        DirectionSet.load(other)
    bare = tmp_path / "bare.safetensors"
    save_file({"vectors": torch.zeros(1, 16)}, str(bare))
    with pytest.raises(InterpError, match="not an interp artifact"):
        DirectionSet.load(bare)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 this is not safetensors")
    with pytest.raises(InterpError, match="not a readable safetensors direction set"):
        DirectionSet.load(garbage)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(make().save(tmp_path / "ok.safetensors").read_bytes()[:-20])
    with pytest.raises(InterpError, match="not a readable safetensors direction set"):
        DirectionSet.load(truncated)
    with pytest.raises(InterpError, match="no direction set file at"):
        DirectionSet.load(tmp_path / "missing.safetensors")


def test_load_refuses_a_direction_set_with_missing_metadata(tmp_path):
    path = tmp_path / "partial.safetensors"
    save_file({"vectors": torch.zeros(1, 16)}, str(path), metadata={"kind": "direction_set"})
    with pytest.raises(InterpError, match="lacks the metadata key 'layers'"):
        DirectionSet.load(path)


# ---- model checks ------------------------------------------------------------------------


def test_check_model_refuses_other_widths_depths_and_configs():
    ds = make()
    with pytest.raises(InterpError, match="16 wide.*has d_model 32.*d_model 16"):
        ds.check_model(ModelRef("wide", "aaaa1111", 32, 4))
    with pytest.raises(InterpError, match="covers layer 3 but 'shallow' has only 3 layers"):
        ds.check_model(ModelRef("shallow", "aaaa1111", 16, 3))
    sibling = ModelRef("sibling", "bbbb2222", 16, 4)
    with pytest.raises(
        InterpError, match="config hash aaaa1111.*config hash bbbb2222.*strict=False"
    ):
        ds.check_model(sibling)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds.check_model(sibling, strict=False)  # same width, other config: accepted, silently
    ds.check_model(MODEL)


def test_load_checks_the_model(tmp_path):
    path = make().save(tmp_path / "d.safetensors")
    with pytest.raises(InterpError, match="has d_model 32"):
        DirectionSet.load(path, model=ModelRef("wide", "aaaa1111", 32, 4))
    assert DirectionSet.load(path, model=ModelRef("sibling", "cc", 16, 4), strict=False) == make()


def test_a_real_model_provides_the_provenance(tmp_path):
    from interp.models.model import Model
    from interp.models.tiny import tiny_model

    hf, tok = tiny_model("llama", d_model=32, n_layers=3)
    model = Model(hf, tok, spec="tiny:llama")
    pos, neg = contrast(n=4, layers=(0, 1, 2), d=32)
    ds = DirectionSet.from_contrast(pos, neg, model=model)
    assert ds.model == ModelRef("tiny:llama", model.config_hash(), 32, 3)
    loaded = DirectionSet.load(ds.save(tmp_path / "d.safetensors"), model=model)
    assert loaded == ds
    with pytest.raises(InterpError, match="16 wide.*'tiny:llama' has d_model 32"):
        make().check_model(model)
