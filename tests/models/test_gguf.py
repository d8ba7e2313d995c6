"""GGUF files as model specs: header checks without loading, clear refusals, and the two real models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.cli.main import main
from interp.errors import InterpError
from interp.models.gguf import check_gguf, read_gguf_header
from interp.models.specs import resolve_spec


def write_gguf(path, architecture: str) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name("tiny")
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_header_of_a_written_file_and_its_truncation(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, "llama")
    header = read_gguf_header(path)
    assert (header.architecture, header.name, header.n_tensors) == ("llama", "tiny", 1)
    assert header.data_end == path.stat().st_size
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(InterpError, match="truncated: its 1 tensors need"):
        check_gguf(cut)
    head_only = tmp_path / "head.gguf"
    head_only.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InterpError, match="ends inside its own header"):
        check_gguf(head_only)


def test_not_gguf_and_unsupported_architecture_are_refused(tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("these are notes, not a model")
    with pytest.raises(InterpError, match="not a GGUF file"):
        resolve_spec(text)
    bert = tmp_path / "bert.gguf"
    write_gguf(bert, "bert")
    with pytest.raises(InterpError, match="'bert' model, which transformers cannot load"):
        resolve_spec(bert)


@pytest.mark.parametrize("problem", ["truncated", "unsupported", "missing"])
def test_cli_refuses_bad_gguf_in_one_line(tmp_path, capsys, problem):
    path = tmp_path / "model.gguf"
    if problem == "truncated":
        write_gguf(path, "llama")
        path.write_bytes(path.read_bytes()[:-8])
    elif problem == "unsupported":
        write_gguf(path, "bert")
    out = tmp_path / "out"
    for argv in (["info", str(path)], ["convert", str(path), "--out", str(out)]):
        assert main(argv) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and errors[0].startswith("interp: error:")
        assert not out.exists()


def test_real_headers(smollm2_gguf, gemma3_gguf):
    assert resolve_spec(smollm2_gguf) == ("gguf", smollm2_gguf)
    for path, architecture in ((smollm2_gguf, "llama"), (gemma3_gguf, "gemma3")):
        header = check_gguf(path)
        assert header.architecture == architecture
        assert header.data_end == path.stat().st_size


def greedy_word(model, text: str) -> str:
    """The first word of the greedy continuation (Gemma writes a digit as a space, then the digit)."""
    from interp.models.generate import generate

    return generate(model, text, max_new_tokens=3)[0].text.split()[0]


def test_real_models_load_from_gguf_with_their_tokenizers(smollm2, gemma3):
    assert (smollm2.architecture, smollm2.n_layers, smollm2.d_model) == ("llama", 30, 576)
    assert (gemma3.architecture, gemma3.n_layers, gemma3.d_model) == ("gemma3_text", 18, 640)
    assert smollm2.dtype == gemma3.dtype == torch.float32
    # What each model knows, as its top next token: the loaded weights are the real ones.
    assert greedy_word(smollm2, "The capital of France is").strip(".") == "Paris"
    assert greedy_word(gemma3, "2 + 3 =") == "5"
    assert smollm2.tokenizer.chat_template and not gemma3.tokenizer.chat_template


def test_info_on_a_gguf(smollm2_gguf, capsys):
    assert main(["info", str(smollm2_gguf), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["architecture"], info["n_layers"], info["d_model"]) == ("llama", 30, 576)
    assert "blocks.29.hook_resid_post" in info["hook_points"]


@pytest.mark.slow
def test_convert_gguf_keeps_logits_and_chat_template(smollm2, smollm2_gguf, tmp_path):
    from interp.models.load import load_model

    out = tmp_path / "smollm2-hf"
    assert main(["convert", str(smollm2_gguf), "--out", str(out)]) == 0
    converted = load_model(out)
    assert converted.tokenizer.chat_template == smollm2.tokenizer.chat_template
    assert converted.config_hash() == smollm2.config_hash()
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt").input_ids
    torch.testing.assert_close(converted.forward(ids), smollm2.forward(ids), atol=1e-5, rtol=0)
