"""Load Karpathy's llama2.c checkpoints (legacy "version 0" `.bin` files) exactly.

Layout: seven little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
seq_len; a negative vocab_size means the classifier is not tied to the embedding), then float32
arrays: token_embedding_table [V, D], rms_att_weight [L, D], wq [L, D, D], wk [L, KV, D],
wv [L, KV, D], wo [L, D, D], rms_ffn_weight [L, D], w1 [L, H, D], w2 [L, D, H], w3 [L, H, D],
rms_final_weight [D], two legacy RoPE tables [seq_len, head_size/2] each (skipped), and wcls [V, D]
when the classifier is not tied. The RoPE tables may be missing from a tied checkpoint.

>>> model, tokenizer = llama2c_to_hf("../shared/models/stories260K/stories260K.bin")  # doctest: +SKIP
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from interp.errors import InterpError
from interp.models.llama2c_tokenizer import BOS_ID, EOS_ID, UNK_ID, Llama2cTokenizer

HEADER = struct.Struct("<7i")
FLOAT_BYTES = 4
RMS_EPS = 1e-5  # run.c's rmsnorm
ROPE_THETA = 10000.0  # run.c's RoPE base
# Plausibility bounds: well above any published llama2.c model, low enough to catch garbage.
MAX_DIM = 1 << 16
MAX_LAYERS = 1024
MAX_VOCAB = 1 << 21
MAX_SEQ_LEN = 1 << 20
VERSIONED_MAGIC = 0x616B3432  # "ak42": llama2.c export.py --version 1/2 files


@dataclass(frozen=True)
class Llama2cConfig:
    """The llama2.c checkpoint header, with the sign of vocab_size turned into a flag.

    >>> Llama2cConfig(64, 172, 5, 8, 4, 512, 512, True).head_size
    8
    """

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.head_size * self.n_kv_heads

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """llama2.c tensor name -> shape, in file order (RoPE tables and wcls excluded)."""
        d, h, n, kv, v = self.dim, self.hidden_dim, self.n_layers, self.kv_dim, self.vocab_size
        return {
            "token_embedding_table": (v, d),
            "rms_att_weight": (n, d),
            "wq": (n, d, d),
            "wk": (n, kv, d),
            "wv": (n, kv, d),
            "wo": (n, d, d),
            "rms_ffn_weight": (n, d),
            "w1": (n, h, d),
            "w2": (n, d, h),
            "w3": (n, h, d),
            "rms_final_weight": (d,),
        }

    def rope_table_floats(self) -> int:
        """Floats in the two legacy freq_cis tables that follow rms_final_weight."""
        return 2 * self.seq_len * (self.head_size // 2)


def read_llama2c_checkpoint(path: str | Path) -> tuple[Llama2cConfig, dict[str, torch.Tensor]]:
    """The header and the raw float32 tensors of a llama2.c checkpoint, by llama2.c name.

    Reads the bytes with numpy (no pickle). `wcls` is present only when the classifier is not tied.

    >>> config, tensors = read_llama2c_checkpoint("stories260K.bin")  # doctest: +SKIP
    >>> tensors["wq"].shape                                           # doctest: +SKIP
    torch.Size([5, 64, 64])
    """
    path = Path(path)
    _check_is_file(path, "checkpoint")
    file_bytes = path.stat().st_size
    with path.open("rb") as f:
        header = f.read(HEADER.size)
    if len(header) < HEADER.size:
        raise InterpError(
            f"{path} is {file_bytes} bytes, too short for a llama2.c header ({HEADER.size} bytes)",
            fix="pass a checkpoint written by llama2.c's export.py (legacy format)",
        )
    config = _parse_header(path, HEADER.unpack(header))
    layout = _file_layout(config)
    _check_size(path, config, file_bytes, layout)
    floats = np.memmap(path, dtype="<f4", mode="r", offset=HEADER.size)
    return config, _slice_tensors(floats, config)


def llama2c_to_hf(
    path: str | Path, tokenizer_path: str | Path | None = None
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A float32 `LlamaForCausalLM` (eval mode) and its tokenizer from a llama2.c checkpoint.

    The tokenizer is `tokenizer_path`, or the single `tok*.bin` beside the checkpoint.

    >>> model, tok = llama2c_to_hf("stories260K.bin")               # doctest: +SKIP
    >>> model(**tok("Once upon", return_tensors="pt")).logits.shape  # doctest: +SKIP
    torch.Size([1, 4, 512])
    """
    path = Path(path)
    config, tensors = read_llama2c_checkpoint(path)
    tok_path = Path(tokenizer_path) if tokenizer_path is not None else find_llama2c_tokenizer(path)
    tokenizer = Llama2cTokenizer.from_file(tok_path)
    if tokenizer.vocab_size != config.vocab_size:
        raise InterpError(
            f"tokenizer {tok_path} has {tokenizer.vocab_size} tokens but checkpoint {path.name} "
            f"has vocab_size {config.vocab_size}",
            fix="pass the tokenizer the model was trained with (--tokenizer tokN.bin)",
        )
    model = LlamaForCausalLM(hf_config(config))
    model.load_state_dict(hf_state_dict(config, tensors), strict=True)
    hf_tokenizer = tokenizer.to_hf()
    hf_tokenizer.model_max_length = config.seq_len
    return model.float().eval(), hf_tokenizer


def find_llama2c_tokenizer(checkpoint: Path) -> Path:
    """The one `tok*.bin` file in the checkpoint's directory.

    >>> find_llama2c_tokenizer(Path("stories260K/stories260K.bin"))  # doctest: +SKIP
    PosixPath('stories260K/tok512.bin')
    """
    checkpoint = Path(checkpoint)
    found = sorted(
        p for p in checkpoint.parent.glob("tok*.bin") if p.is_file() and p.name != checkpoint.name
    )
    if len(found) == 1:
        return found[0]
    where = checkpoint.parent
    if not found:
        raise InterpError(
            f"no llama2.c tokenizer (tok*.bin) next to {checkpoint}",
            fix="pass --tokenizer PATH to the tokenizer .bin the model was trained with",
        )
    names = ", ".join(p.name for p in found)
    raise InterpError(
        f"several llama2.c tokenizers in {where} ({names})",
        fix="pass --tokenizer PATH to choose one",
    )


def hf_config(config: Llama2cConfig) -> LlamaConfig:
    """The `LlamaConfig` that computes what run.c computes.

    >>> hf_config(Llama2cConfig(64, 172, 5, 8, 4, 512, 512, True)).head_dim
    8
    """
    return LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.dim,
        intermediate_size=config.hidden_dim,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_kv_heads,
        head_dim=config.head_size,
        max_position_embeddings=config.seq_len,
        rms_norm_eps=RMS_EPS,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=config.shared_classifier,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=UNK_ID,
        dtype="float32",
    )


def hf_state_dict(
    config: Llama2cConfig, tensors: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """llama2.c tensors renamed for `LlamaForCausalLM`, with wq/wk rows permuted for HF's RoPE.

    >>> sd = hf_state_dict(*read_llama2c_checkpoint("stories260K.bin"))  # doctest: +SKIP
    """
    sd = {
        "model.embed_tokens.weight": tensors["token_embedding_table"],
        "model.norm.weight": tensors["rms_final_weight"],
        "lm_head.weight": tensors.get("wcls", tensors["token_embedding_table"]),
    }
    for layer in range(config.n_layers):
        prefix = f"model.layers.{layer}."
        sd |= {
            prefix + "input_layernorm.weight": tensors["rms_att_weight"][layer],
            prefix + "post_attention_layernorm.weight": tensors["rms_ffn_weight"][layer],
            prefix + "self_attn.q_proj.weight": interleaved_to_halves(
                tensors["wq"][layer], config.n_heads
            ),
            prefix + "self_attn.k_proj.weight": interleaved_to_halves(
                tensors["wk"][layer], config.n_kv_heads
            ),
            prefix + "self_attn.v_proj.weight": tensors["wv"][layer],
            prefix + "self_attn.o_proj.weight": tensors["wo"][layer],
            prefix + "mlp.gate_proj.weight": tensors["w1"][layer],
            prefix + "mlp.down_proj.weight": tensors["w2"][layer],
            prefix + "mlp.up_proj.weight": tensors["w3"][layer],
        }
    return {name: t.contiguous() for name, t in sd.items()}


def interleaved_to_halves(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder a q/k projection's rows per head from RoPE pairs (0,1),(2,3).. to (i, i+h/2).

    llama2.c rotates adjacent pairs of a head's features; HF's Llama rotates feature i with
    i + head_size/2. Row j = 2i + k of a head moves to k * head_size/2 + i, so HF's rotation of
    the permuted projection is llama2.c's rotation, permuted; q.k per head is unchanged.

    >>> interleaved_to_halves(torch.arange(4.0)[:, None], 1).flatten().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    rows, cols = weight.shape
    head_size = rows // n_heads
    return (
        weight.reshape(n_heads, head_size // 2, 2, cols)  # (heads, pair i, member k, in)
        .transpose(1, 2)  # (heads, k, i, in)
        .reshape(rows, cols)
    )


# ---------------------------------------------------------------------- header and layout


def _parse_header(path: Path, values: tuple[int, ...]) -> Llama2cConfig:
    dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len = values
    if dim == VERSIONED_MAGIC:
        raise InterpError(
            f"{path} is a versioned llama2.c export (magic 'ak42'); only the legacy format is read",
            fix="re-export it with llama2.c's export.py --version 0",
        )
    config = Llama2cConfig(
        dim, hidden_dim, n_layers, n_heads, n_kv_heads, abs(vocab_size), seq_len, vocab_size > 0
    )
    problem = _header_problem(config)
    if problem:
        raise InterpError(
            f"{path} has an implausible llama2.c header ({problem}): "
            f"dim={dim} hidden_dim={hidden_dim} n_layers={n_layers} n_heads={n_heads} "
            f"n_kv_heads={n_kv_heads} vocab_size={vocab_size} seq_len={seq_len}",
            fix="pass a checkpoint written by llama2.c's export.py (legacy format)",
        )
    return config


def _header_problem(c: Llama2cConfig) -> str | None:
    """Why these header values cannot describe a llama2.c model, or None if they can."""
    bounds = {
        "dim": (c.dim, MAX_DIM),
        "hidden_dim": (c.hidden_dim, 16 * MAX_DIM),
        "n_layers": (c.n_layers, MAX_LAYERS),
        "n_heads": (c.n_heads, MAX_DIM),
        "n_kv_heads": (c.n_kv_heads, MAX_DIM),
        "vocab_size": (c.vocab_size, MAX_VOCAB),
        "seq_len": (c.seq_len, MAX_SEQ_LEN),
    }
    for name, (value, most) in bounds.items():
        if not 0 < value <= most:
            return f"{name} must be in 1..{most}"
    if c.dim % c.n_heads:
        return "dim is not divisible by n_heads"
    if c.n_kv_heads > c.n_heads or c.n_heads % c.n_kv_heads:
        return "n_heads is not a multiple of n_kv_heads"
    if c.head_size % 2:
        return "head size is odd, so RoPE has no pairs"
    return None


def _file_layout(c: Llama2cConfig) -> dict[str, int]:
    """Float counts of the weights, the RoPE tables and the untied classifier."""
    return {
        "weights": sum(int(np.prod(shape)) for shape in c.tensor_shapes().values()),
        "rope": c.rope_table_floats(),
        "wcls": 0 if c.shared_classifier else c.vocab_size * c.dim,
    }


def _expected_sizes(layout: dict[str, int]) -> list[int]:
    """File sizes in bytes that llama2.c can read for this header.

    run.c skips the RoPE tables before an untied classifier, so they must be there; a tied file
    may end right after rms_final_weight (newer exports drop the tables).
    """
    with_rope = layout["weights"] + layout["rope"] + layout["wcls"]
    sizes = [HEADER.size + FLOAT_BYTES * with_rope]
    if not layout["wcls"]:
        sizes.insert(0, HEADER.size + FLOAT_BYTES * layout["weights"])
    return sizes


def _check_size(path: Path, c: Llama2cConfig, file_bytes: int, layout: dict[str, int]) -> None:
    sizes = _expected_sizes(layout)
    if file_bytes in sizes:
        return
    shape = f"dim={c.dim}, n_layers={c.n_layers}, vocab_size={c.vocab_size}"
    promised = " or ".join(str(s) for s in sizes)
    if file_bytes < sizes[0]:
        raise InterpError(
            f"{path} is truncated: {file_bytes} bytes, but its header ({shape}) needs {promised}",
            fix="copy or download the checkpoint again",
        )
    raise InterpError(
        f"{path} has unexpected extra bytes: {file_bytes} bytes, but its header ({shape}) "
        f"needs {promised}",
        fix="pass a checkpoint written by llama2.c's export.py (legacy format), unmodified",
    )


def _slice_tensors(floats: np.ndarray, c: Llama2cConfig) -> dict[str, torch.Tensor]:
    """Copy each array out of the memory map in file order."""
    tensors: dict[str, torch.Tensor] = {}
    offset = 0
    for name, shape in c.tensor_shapes().items():
        count = int(np.prod(shape))
        tensors[name] = _to_tensor(floats[offset : offset + count], shape)
        offset += count
    if not c.shared_classifier:
        offset += c.rope_table_floats()
        tensors["wcls"] = _to_tensor(
            floats[offset : offset + c.vocab_size * c.dim], (c.vocab_size, c.dim)
        )
    return tensors


def _to_tensor(values: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(np.array(values, dtype=np.float32).reshape(shape))


def _check_is_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise InterpError(
            f"{path} is a directory, not a llama2.c {what} file",
            fix="pass the .bin file itself",
        )
    if not path.is_file():
        raise InterpError(f"no llama2.c {what} at {path}: no such file", fix="check the path")
