"""llama2.c checkpoints load into LlamaForCausalLM exactly: greedy text, logits, bad files.

Checks against independent references: llama2.c's published greedy sample for stories260K, and a
plain-torch transcription of run.c's forward (interleaved RoPE) written here from the raw tensors.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported

import shutil  # noqa: E402
import struct  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

from interp.errors import InterpError  # noqa: E402
from interp.models.llama2c import (  # noqa: E402
    Llama2cConfig,
    find_llama2c_tokenizer,
    hf_config,
    hf_state_dict,
    interleaved_to_halves,
    llama2c_to_hf,
    read_llama2c_checkpoint,
)
from interp.models.llama2c_tokenizer import Llama2cTokenizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODEL_DIR = SHARED / "models" / "stories260K"
CHECKPOINT = MODEL_DIR / "stories260K.bin"
TOKENIZER = MODEL_DIR / "tok512.bin"
# llama2.c's greedy sample (run stories260K.bin -z tok512.bin -t 0), as quoted in SOURCE.md.
REFERENCE = (
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big, red ball. She wanted to play with it, but it was too high."
)
STEPS = 150  # run.c -n 150: forwards at positions 0..149, each printing the token it samples

needs_stories = pytest.mark.skipif(
    not CHECKPOINT.is_file() or not TOKENIZER.is_file(),
    reason=f"stories260K fixture missing under {MODEL_DIR}",
)


@pytest.fixture(scope="module")
def loaded():
    torch.set_num_threads(1)
    return llama2c_to_hf(CHECKPOINT)


@pytest.fixture(scope="module")
def raw():
    return read_llama2c_checkpoint(CHECKPOINT)


# ---------------------------------------------------------------------- reference forward


def rmsnorm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * weight


def rope_interleaved(x: torch.Tensor) -> torch.Tensor:
    """run.c's RoPE: rotate features (2i, 2i+1) of each head by pos * 10000^(-2i/head_size)."""
    seq, _, head_size = x.shape  # (T, heads, head_size)
    freqs = 1.0 / 10000.0 ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.arange(seq, dtype=torch.float32)[:, None] * freqs[None]  # (T, head_size/2)
    rot = torch.polar(torch.ones_like(angles), angles)[:, None, :]  # (T, 1, head_size/2)
    pairs = torch.view_as_complex(x.reshape(seq, -1, head_size // 2, 2).contiguous())
    return torch.view_as_real(pairs * rot).flatten(-2)  # (T, heads, head_size)


def llama2c_forward(
    config: Llama2cConfig, w: dict[str, torch.Tensor], ids: torch.Tensor
) -> torch.Tensor:
    """Logits (T, vocab) of run.c's transformer for one sequence, in float32."""
    seq, hs = len(ids), config.head_size
    x = w["token_embedding_table"][ids]  # (T, D)
    causal = torch.full((seq, seq), float("-inf")).triu(1)
    group = config.n_heads // config.n_kv_heads
    for layer in range(config.n_layers):
        h = rmsnorm(x, w["rms_att_weight"][layer])
        q = rope_interleaved((h @ w["wq"][layer].T).view(seq, config.n_heads, hs))
        k = rope_interleaved((h @ w["wk"][layer].T).view(seq, config.n_kv_heads, hs))
        v = (h @ w["wv"][layer].T).view(seq, config.n_kv_heads, hs)
        k, v = (
            k.repeat_interleave(group, 1),
            v.repeat_interleave(group, 1),
        )  # query head -> h // group
        scores = torch.einsum("qhd,khd->hqk", q, k) / hs**0.5 + causal
        att = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(seq, config.dim)
        x = x + att @ w["wo"][layer].T
        h = rmsnorm(x, w["rms_ffn_weight"][layer])
        ffn = torch.nn.functional.silu(h @ w["w1"][layer].T) * (h @ w["w3"][layer].T)
        x = x + ffn @ w["w2"][layer].T
    classifier = w.get("wcls", w["token_embedding_table"])
    return rmsnorm(x, w["rms_final_weight"]) @ classifier.T


def run_c_greedy(model, steps: int) -> list[int]:
    """run.c's loop with -t 0 and an empty prompt: start at BOS, argmax, stop early on BOS."""
    out = model.generate(
        torch.tensor([[1]]),
        do_sample=False,
        max_new_tokens=steps,  # one sampled token per forward, positions 0..steps-1
        eos_token_id=1,  # run.c's only stop: BOS delimits sequences (EOS is printed)
        pad_token_id=0,
    )
    ids = out[0].tolist()
    return ids[:-1] if len(ids) > 1 and ids[-1] == 1 else ids


# ---------------------------------------------------------------------- the model


@needs_stories
def test_greedy_from_bos_reproduces_llama2c_sample(loaded):
    model, _ = loaded
    ids = run_c_greedy(model, STEPS)
    text = Llama2cTokenizer.from_file(TOKENIZER).decode(ids)
    assert len(ids) == STEPS + 1, "the sample should run the full 150 steps without a BOS"
    assert text.startswith(REFERENCE), text[: len(REFERENCE) + 40]


@needs_stories
def test_logits_match_plain_torch_llama2c_forward(loaded, raw):
    model, tokenizer = loaded
    config, tensors = raw
    gen = torch.Generator().manual_seed(0)
    sequences = [
        torch.tensor(tokenizer("Once upon a time, there was a dog.").input_ids),
        torch.tensor([1]),
        torch.randint(0, config.vocab_size, (77,), generator=gen),
        torch.randint(0, config.vocab_size, (config.seq_len,), generator=gen),  # every position
    ]
    for ids in sequences:
        with torch.no_grad():
            ours = model(ids[None]).logits[0]
        ref = llama2c_forward(config, tensors, ids)
        # |logits| reach ~20, so 1e-5 abs + 1e-5 rel is a few float32 ulps (max seen ~1.7e-5).
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


@needs_stories
def test_without_rope_permutation_logits_differ(raw):
    """The control the parity test must beat: loading wq/wk as-is gives visibly wrong logits."""
    config, tensors = raw
    naive = hf_state_dict(config, tensors)
    for layer in range(config.n_layers):
        naive[f"model.layers.{layer}.self_attn.q_proj.weight"] = tensors["wq"][layer]
        naive[f"model.layers.{layer}.self_attn.k_proj.weight"] = tensors["wk"][layer]
    model = _hf_model(config, naive)
    ids = torch.arange(3, 40)
    with torch.no_grad():
        gap = (model(ids[None]).logits[0] - llama2c_forward(config, tensors, ids)).abs().max()
    assert gap > 1e-2


@needs_stories
def test_config_and_model_settings(loaded, raw):
    model, tokenizer = loaded
    config, tensors = raw
    assert config == Llama2cConfig(64, 172, 5, 8, 4, 512, 512, True)
    hf = model.config
    assert (hf.hidden_size, hf.intermediate_size, hf.num_hidden_layers) == (64, 172, 5)
    assert (hf.num_attention_heads, hf.num_key_value_heads, hf.head_dim) == (8, 4, 8)
    assert hf.rms_norm_eps == 1e-5 and hf.rope_parameters["rope_theta"] == 10000.0
    assert hf.max_position_embeddings == 512 and tokenizer.model_max_length == 512
    assert (hf.bos_token_id, hf.eos_token_id) == (1, 2)
    assert not model.training and model.dtype == torch.float32
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert torch.equal(model.model.embed_tokens.weight, tensors["token_embedding_table"])
    assert sorted(tensors) == sorted(config.tensor_shapes())  # tied: no wcls


def test_interleaved_to_halves_turns_pair_rotation_into_half_rotation():
    """HF's rotate-half RoPE on permuted rows equals run.c's pair RoPE, up to the same permutation."""
    torch.manual_seed(0)
    n_heads, head_size, dim, seq = 3, 8, 5, 6
    weight, x = torch.randn(n_heads * head_size, dim), torch.randn(seq, dim)
    pair_rotated = rope_interleaved((x @ weight.T).view(seq, n_heads, head_size))
    q = (x @ interleaved_to_halves(weight, n_heads).T).view(seq, n_heads, head_size)
    freqs = 1.0 / 10000.0 ** (torch.arange(0, head_size, 2).float() / head_size)
    angles = torch.arange(seq).float()[:, None] * freqs
    cos, sin = (
        torch.cat([angles.cos()] * 2, -1)[:, None],
        torch.cat([angles.sin()] * 2, -1)[:, None],
    )
    half = head_size // 2
    rotate_half = torch.cat([-q[..., half:], q[..., :half]], -1)
    half_rotated = q * cos + rotate_half * sin
    order = torch.arange(head_size).view(half, 2).T.flatten()  # pair layout -> halves layout
    torch.testing.assert_close(half_rotated, pair_rotated[..., order], atol=1e-6, rtol=1e-6)


@needs_stories
def test_untied_checkpoint_reads_wcls_after_rope_tables(tmp_path, raw):
    config, tensors = raw
    wcls = tensors["token_embedding_table"].flip(0)  # a distinct classifier at the trained scale
    path = tmp_path / "untied.bin"
    _write_checkpoint(path, config, tensors, vocab_sign=-1, rope=True, wcls=wcls)
    read_config, read = read_llama2c_checkpoint(path)
    assert not read_config.shared_classifier and torch.equal(read["wcls"], wcls)
    model, _ = llama2c_to_hf(path, TOKENIZER)
    assert not torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    ids = torch.arange(1, 30)
    with torch.no_grad():
        ours = model(ids[None]).logits[0]
    torch.testing.assert_close(ours, llama2c_forward(read_config, read, ids), atol=1e-5, rtol=1e-5)


@needs_stories
def test_tied_checkpoint_without_rope_tables_reads_the_same(tmp_path, raw):
    config, tensors = raw
    path = tmp_path / "norope.bin"
    _write_checkpoint(path, config, tensors, vocab_sign=1, rope=False)
    _, read = read_llama2c_checkpoint(path)
    assert all(torch.equal(read[name], tensors[name]) for name in tensors)


# ---------------------------------------------------------------------- bad input


def _header(**overrides: int) -> bytes:
    fields = dict(dim=64, hidden_dim=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab=512, seq=512)
    fields.update(overrides)
    return struct.pack("<7i", *fields.values())


@needs_stories
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.bin", r"no llama2\.c checkpoint at .*missing\.bin"),
        (lambda d: d, r"is a directory"),
        (lambda d: _write(d / "short.bin", b"\x01\x02\x03"), r"too short for a llama2\.c header"),
        (lambda d: _write(d / "cut.bin", CHECKPOINT.read_bytes()[:500_000]), r"truncated"),
        (
            lambda d: _write(d / "noise.bin", np.random.default_rng(0).bytes(100_000)),
            r"implausible llama2\.c header",
        ),
        (lambda d: _write(d / "huge.bin", _header(dim=1 << 30) + bytes(64)), r"implausible.*dim"),
        (
            lambda d: _write(d / "heads.bin", _header(n_heads=7) + bytes(64)),
            r"divisible by n_heads",
        ),
        (lambda d: _write(d / "zero.bin", _header(n_layers=0) + bytes(64)), r"n_layers must be"),
        (
            lambda d: _write(d / "extra.bin", CHECKPOINT.read_bytes() + bytes(12)),
            r"unexpected extra bytes",
        ),
        (
            lambda d: _write(d / "v1.bin", struct.pack("<I", 0x616B3432) + bytes(252)),
            r"versioned llama2\.c export",
        ),
    ],
    ids=[
        "missing",
        "directory",
        "short",
        "truncated",
        "random",
        "absurd",
        "heads",
        "zero",
        "extra",
        "v1",
    ],
)
def test_bad_checkpoints_raise_interp_error(tmp_path, make, message):
    with pytest.raises(InterpError, match=message):
        read_llama2c_checkpoint(make(tmp_path))


@needs_stories
def test_tokenizer_with_wrong_vocab_size_is_refused(tmp_path):
    data = TOKENIZER.read_bytes()
    short = tmp_path / "tok511.bin"
    _write(short, data[: _entry_offsets(data)[511]])
    with pytest.raises(InterpError, match=r"511 tokens .* vocab_size 512"):
        llama2c_to_hf(CHECKPOINT, short)


@needs_stories
def test_tokenizer_is_found_beside_checkpoint_or_must_be_passed(tmp_path):
    checkpoint = tmp_path / "model.bin"
    checkpoint.symlink_to(CHECKPOINT)
    with pytest.raises(InterpError, match=r"no llama2\.c tokenizer .*--tokenizer"):
        find_llama2c_tokenizer(checkpoint)
    shutil.copy(TOKENIZER, tmp_path / "tok512.bin")
    assert find_llama2c_tokenizer(checkpoint) == tmp_path / "tok512.bin"
    shutil.copy(TOKENIZER, tmp_path / "tokenizer.bin")
    with pytest.raises(InterpError, match=r"several llama2\.c tokenizers.*--tokenizer"):
        llama2c_to_hf(checkpoint)


# ---------------------------------------------------------------------- helpers


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _entry_offsets(data: bytes) -> list[int]:
    """Byte offset of each token entry in a tok*.bin, plus the end."""
    offsets, offset = [], 4
    while offset < len(data):
        offsets.append(offset)
        offset += 8 + struct.unpack_from("<i", data, offset + 4)[0]
    return offsets + [offset]


def _write_checkpoint(
    path: Path,
    config: Llama2cConfig,
    tensors: dict[str, torch.Tensor],
    *,
    vocab_sign: int,
    rope: bool,
    wcls: torch.Tensor | None = None,
) -> None:
    c = config
    header = struct.pack(
        "<7i",
        c.dim,
        c.hidden_dim,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        vocab_sign * c.vocab_size,
        c.seq_len,
    )
    parts = [tensors[name].numpy().astype("<f4").tobytes() for name in c.tensor_shapes()]
    if rope:
        parts.append(np.zeros(c.rope_table_floats(), dtype="<f4").tobytes())
    if wcls is not None:
        parts.append(wcls.numpy().astype("<f4").tobytes())
    path.write_bytes(header + b"".join(parts))


def _hf_model(config: Llama2cConfig, state: dict[str, torch.Tensor]) -> LlamaForCausalLM:
    model = LlamaForCausalLM(hf_config(config))
    model.load_state_dict(state)
    return model.eval()
