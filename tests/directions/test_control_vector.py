"""llama.cpp control vectors: interp export/import, read back with the gguf package, the layer
numbering llama.cpp applies, repeng's files, and the one-line errors."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from interp.cli.main import main
from interp.directions import DirectionSet
from interp.directions.control_vector import (
    combine_for_export,
    read_control_vector,
    write_control_vector,
)
from interp.errors import InterpError
from interp.store.artifacts import ModelRef

MODEL = ModelRef(spec="organism:tiny", config_hash="aaaa1111", d_model=16, n_layers=5)


def make(layers=(1, 2, 4), dtype=torch.float32, seed: int = 0, hook="resid_post") -> DirectionSet:
    g = torch.Generator().manual_seed(seed)
    vectors = torch.randn(len(layers), MODEL.d_model, generator=g).to(dtype)
    return DirectionSet(vectors, layers, MODEL, hook, "mean_difference", "d0a7a", 12)


def write_foreign(path, rows: dict[int, np.ndarray], arch="controlvector", hint="llama"):
    """A control vector as repeng's ControlVector.export_gguf writes one (uint32 layer count =
    number of directions, model hint = its model_type)."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string(f"{arch}.model_hint", hint)
    writer.add_uint32(f"{arch}.layer_count", len(rows))
    for layer, row in rows.items():
        writer.add_tensor(f"direction.{layer}", row.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_round_trip_is_exact(tmp_path, dtype):
    ds = make(dtype=dtype)
    back = read_control_vector(write_control_vector(ds, tmp_path / "x.gguf"))
    assert back == ds and back.vectors.dtype == dtype


def test_the_file_is_what_llama_cpp_reads(tmp_path):
    ds = make()
    reader = gguf.GGUFReader(str(write_control_vector(ds, tmp_path / "x.gguf", model_hint="llama")))
    assert reader.fields["general.architecture"].contents() == "controlvector"
    assert reader.fields["controlvector.model_hint"].contents() == "llama"
    assert reader.fields["controlvector.layer_count"].contents() == MODEL.n_layers - 1
    names = {t.name: t for t in reader.tensors}
    assert sorted(names) == ["direction.1", "direction.2", "direction.4"]
    for layer in ds.layers:
        tensor = names[f"direction.{layer}"]
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F32 and len(tensor.shape) == 1
        assert np.array_equal(tensor.data, ds.vector(layer).numpy())


def test_a_repeng_file_reads_into_a_direction_set(tmp_path):
    rows = {layer: np.random.default_rng(layer).standard_normal(16) for layer in (3, 1, 2)}
    write_foreign(tmp_path / "repeng.gguf", rows)
    ds = read_control_vector(tmp_path / "repeng.gguf", n_layers=6)
    assert ds.layers == (1, 2, 3) and ds.hook == "resid_post" and ds.model.n_layers == 6
    assert ds.model.spec == "llama" and ds.model.config_hash == ""
    for layer, row in rows.items():
        assert torch.equal(ds.vector(layer), torch.from_numpy(row.astype(np.float32)))
    with_model = read_control_vector(tmp_path / "repeng.gguf", model=MODEL)
    assert with_model.model == MODEL


def test_llama_cpp_block_k_output_is_interp_resid_post_k(tiny_dirs):
    """llama.cpp adds direction.k to l_out of block k (0-based): the Hugging Face decoder layer k's
    output. interp's 'add' at blocks.k.hook_resid_post, alpha = scale, is the same computation."""
    from interp.models.load import load_model
    from interp.steer.steering import steered

    model = load_model(str(tiny_dirs["llama"]))
    g = torch.Generator().manual_seed(0)
    ref = ModelRef.of(model)
    ds = DirectionSet(torch.randn(1, model.d_model, generator=g), (2,), ref)
    ids, scale = torch.tensor([[1, 5, 9, 13]]), 3.0
    with steered(model, ds, "add", alpha=scale, positions="all", phase="both"):
        ours = model.forward(ids)

    def add_to_block_output(module, inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden + scale * ds.vector(2)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = model.hf.model.layers[2].register_forward_hook(add_to_block_output)
    try:
        theirs = model.forward(ids)
    finally:
        handle.remove()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.allclose(ours, model.forward(ids), atol=1e-3)  # the vector does something


def test_bad_input_is_refused_in_one_line(tmp_path):
    with pytest.raises(InterpError, match="layer 0"):
        write_control_vector(make(layers=(0, 1)), tmp_path / "x.gguf")
    with pytest.raises(InterpError, match="hook_resid_post"):
        write_control_vector(make(hook="mlp_out"), tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
    with pytest.raises(InterpError, match="--component"):
        combine_for_export([make(seed=0), make(seed=1)])
    assert combine_for_export([make(seed=0), make(seed=1)], component=1) == make(seed=1)
    write_foreign(tmp_path / "model.gguf", {1: np.zeros(16)}, arch="llama")
    with pytest.raises(InterpError, match="not a control vector"):
        read_control_vector(tmp_path / "model.gguf")
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file at all")
    with pytest.raises(InterpError, match="not a readable GGUF"):
        read_control_vector(tmp_path / "junk.gguf")


def test_cli_export_and_import(tmp_path, capsys, cli_error):
    ds = make()
    ds.save(tmp_path / "d.safetensors")
    assert main(["export", str(tmp_path / "d.safetensors"), "--out", str(tmp_path / "x.gguf")]) == 0
    out = tmp_path / "back.safetensors"
    assert main(["import", str(tmp_path / "x.gguf"), "--out", str(out)]) == 0
    assert DirectionSet.load(out) == ds
    capsys.readouterr()
    code = main(
        ["export", str(tmp_path / "d.safetensors")] * 1
        + [str(tmp_path / "d.safetensors"), "--out", str(tmp_path / "y.gguf")]
    )
    err = cli_error(capsys.readouterr().err)
    assert code == 2 and err.count("\n") == 1 and "--component" in err
    code = main(["import", str(tmp_path / "d.safetensors"), "--out", str(tmp_path / "z.st")])
    err = cli_error(capsys.readouterr().err)
    assert code == 2 and err.count("\n") == 1 and "GGUF" in err


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["smollm2", "gemma3"])
def test_real_model_directions_export_with_the_gguf_architecture(request, fixture, tmp_path):
    """A direction set extracted from a real GGUF model exports with that GGUF's architecture as
    the model hint (what llama.cpp names the model) and reads back equal."""
    from interp.experiments.extract import extract_directions
    from interp.models.gguf import read_gguf_header

    model = request.getfixturevalue(fixture)
    ds = extract_directions(
        model, ["I love this.", "What a joy."], ["I hate this.", "What a pain."]
    )
    kept = combine_for_export([ds], layers=list(range(1, model.n_layers)))
    path = write_control_vector(kept, tmp_path / "x.gguf")
    reader = gguf.GGUFReader(str(path))
    hint = reader.fields["controlvector.model_hint"].contents()
    assert hint == read_gguf_header(model.spec).architecture
    assert len(reader.tensors) == model.n_layers - 1
    assert read_control_vector(path) == kept
