"""The zoo tokenizer: one id per character, fixed ids, BOS first, saves and loads offline."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from interp.errors import InterpError
from interp.organisms.tasks import CUE, generate, render_prompt, worked
from interp.organisms.tokenizer import ALPHABET, BOS, VOCAB, encode, zoo_tokenizer


def _texts() -> list[str]:
    items = generate("add", 5, seed=0, split="train") + generate("count", 5, seed=0, split="train")
    return [render_prompt(i, CUE) + worked(i) for i in items]


def test_round_trip_and_fast_encoder_agree():
    tok = zoo_tokenizer()
    for text in [*_texts(), ALPHABET]:
        ids = tok(text).input_ids
        assert ids[0] == VOCAB[BOS] and ids[1:] == encode(text)
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_ids_are_fixed():
    # ids are part of every saved organism; changing them silently breaks old zoos
    assert VOCAB["<pad>"] == 0 and VOCAB["<s>"] == 1 and VOCAB["</s>"] == 2
    assert VOCAB["0"] == 4 and VOCAB["a"] == 14 and VOCAB["#"] == 74 and len(VOCAB) == 88
    assert len(set(VOCAB.values())) == len(VOCAB)


def test_save_and_load_in_hugging_face_format(tmp_path):
    zoo_tokenizer().save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in _texts():
        assert loaded(text).input_ids == zoo_tokenizer()(text).input_ids
    assert loaded.padding_side == "left" and loaded.pad_token_id == VOCAB["<pad>"]
    batch = loaded(["Q:1", "Q:12+3"], padding=True)
    assert batch["attention_mask"][0][:3] == [0, 0, 0]  # left padding


def test_unknown_characters():
    assert zoo_tokenizer()("é").input_ids[1] == VOCAB["<unk>"]
    with pytest.raises(InterpError, match="not in the zoo alphabet"):
        encode("é")
