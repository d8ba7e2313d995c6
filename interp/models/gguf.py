"""GGUF files as model specs: checked from their header without loading, then loaded by transformers.

transformers reads a `.gguf` (`from_pretrained(dir, gguf_file=name)`) and dequantizes every tensor to
float; tokenizer and chat template come from the file's metadata. Before that (which takes seconds to
minutes), `check_gguf` reads the header and the tensor table itself, so a file that is not GGUF, is
cut short, or holds an architecture transformers cannot load is refused in well under a second.

Layout of the header (little-endian, GGUF versions 2 and 3): magic `GGUF`, version u32, tensor count
u64, metadata count u64, the metadata key/value pairs, one info record per tensor (name, dims, type,
offset), then the tensor data from the next multiple of `general.alignment` (32 by default).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from interp.errors import InterpError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
# Metadata value types: fixed-size scalars by struct code; 8 is a string, 9 an array.
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9
# Metadata keys worth keeping from the header; the vocabulary arrays are skipped, not read.
_KEPT_KEYS = ("general.architecture", "general.name", "general.alignment", "general.file_type")


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file says about itself, read without touching its tensor data."""

    path: Path
    version: int
    architecture: str
    name: str | None
    n_tensors: int
    data_end: int  # the byte where the last tensor ends: the file must be at least this long


class _Truncated(Exception):
    pass


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """The header and tensor table of a GGUF file; refuses a file that is not GGUF or is cut short."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        try:
            return _read_header(f, path, size)
        except _Truncated:
            raise InterpError(
                f"{path} is truncated: it ends inside its own header ({size} bytes)",
                fix="download or copy the .gguf file again",
            ) from None


def check_gguf(path: str | Path) -> GGUFHeader:
    """Everything that can be known about loading `path` before loading it."""
    header = read_gguf_header(path)
    size = header.path.stat().st_size
    if size < header.data_end:
        raise InterpError(
            f"{header.path} is truncated: its {header.n_tensors} tensors need {header.data_end} "
            f"bytes but the file has {size}",
            fix="download or copy the .gguf file again",
        )
    supported = supported_architectures()
    if supported is not None and _plain(header.architecture) not in supported:
        raise InterpError(
            f"{header.path} holds a {header.architecture!r} model, which transformers cannot load "
            "from GGUF",
            fix=f"use a GGUF of one of {', '.join(sorted(supported.values()))}, or convert the original "
            "checkpoint to a Hugging Face directory",
        )
    return header


def supported_architectures() -> dict[str, str] | None:
    """GGUF architectures the installed transformers reads, keyed by a spelling-blind form, or None
    where transformers does not say."""
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:
        return None
    names = set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"}
    return {_plain(name): name for name in names}


def load_gguf(path: Path, **from_pretrained: Any) -> tuple[Any, Any]:
    """Tokenizer and dequantized causal LM of a checked GGUF file (keyword arguments go to the model's
    `from_pretrained`: dtype, device_map, attn_implementation, ...)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf  # noqa: F401  (transformers needs it; say so plainly if missing)
    except ImportError:
        raise InterpError(
            "loading a .gguf file needs the gguf package", fix="pip install gguf"
        ) from None
    where, name = path.parent, path.name
    try:
        with quiet_dequantize_bar():
            tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                where, gguf_file=name, local_files_only=True, **from_pretrained
            )
    except InterpError:
        raise
    except Exception as err:  # transformers raises many types for files it cannot use
        raise InterpError(
            f"transformers could not load {path} ({_first_line(err)})",
            fix="check that the file is a decoder-only language model; `interp info` on a Hugging "
            "Face directory of the same model shows whether the architecture loads",
        ) from err
    # A saved directory names its class; so does this, so that both hash to the same config.
    model.config.architectures = [type(model).__name__]
    return model, tokenizer


@contextmanager
def quiet_dequantize_bar() -> Iterator[None]:
    """Off a terminal, silence transformers' per-tensor dequantization bar: in a log it is a wall
    of redrawn lines, and interp's loading progress already says what is happening."""
    from interp.progress import on_terminal

    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    bar = getattr(gguf_utils, "tqdm", None)
    if on_terminal() or bar is None:
        yield
        return
    gguf_utils.tqdm = partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def _read_header(f: IO[bytes], path: Path, size: int) -> GGUFHeader:
    if f.read(4) != MAGIC:
        raise InterpError(
            f"{path} is not a GGUF file (it does not start with 'GGUF')",
            fix="pass a .gguf model file, a Hugging Face directory or a llama2.c .bin checkpoint",
        )
    (version,) = _unpack(f, "<I")
    if version < 2:
        raise InterpError(
            f"{path} is GGUF version {version}, which predates 64-bit counts",
            fix="re-export the model with a current llama.cpp (GGUF version 3)",
        )
    n_tensors, n_metadata = _unpack(f, "<QQ")
    if n_tensors > size or n_metadata > size:  # counts larger than the file: not a real header
        raise _Truncated
    kept: dict[str, Any] = {}
    for _ in range(n_metadata):
        key = _read_string(f)
        (value_type,) = _unpack(f, "<I")
        value = _read_value(f, value_type, keep=key in _KEPT_KEYS)
        if key in _KEPT_KEYS:
            kept[key] = value
    data_size = 0
    for _ in range(n_tensors):
        _read_string(f)  # name
        (n_dims,) = _unpack(f, "<I")
        dims = _unpack(f, f"<{n_dims}Q")
        tensor_type, offset = _unpack(f, "<IQ")
        data_size = max(data_size, offset + _tensor_bytes(tensor_type, dims, path))
    alignment = int(kept.get("general.alignment", DEFAULT_ALIGNMENT))
    data_start = -(-f.tell() // alignment) * alignment
    architecture = kept.get("general.architecture")
    if not isinstance(architecture, str):
        raise InterpError(
            f"{path} does not name its architecture (no general.architecture)",
            fix="re-export the model with a current llama.cpp",
        )
    name = kept.get("general.name")
    return GGUFHeader(
        path,
        version,
        architecture,
        name if isinstance(name, str) else None,
        n_tensors,
        data_start + data_size,
    )


def _tensor_bytes(tensor_type: int, dims: tuple[int, ...], path: Path) -> int:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(tensor_type)]
    except (ValueError, KeyError):
        raise InterpError(
            f"{path} has a tensor of GGML type {tensor_type}, which the installed gguf package "
            "does not know",
            fix="upgrade gguf (pip install -U gguf)",
        ) from None
    count = 1
    for d in dims:
        count *= d
    return count // block * block_bytes


def _read_value(f: IO[bytes], value_type: int, *, keep: bool) -> Any:
    if value_type in _SCALARS:
        return _unpack(f, "<" + _SCALARS[value_type])[0]
    if value_type == _STRING:
        return _read_string(f) if keep else _skip_string(f)
    if value_type == _ARRAY:
        element_type, count = _unpack(f, "<IQ")
        if element_type in _SCALARS:  # fixed size: jump over the whole array
            f.seek(count * struct.calcsize("<" + _SCALARS[element_type]), 1)
        else:
            for _ in range(count):
                _read_value(f, element_type, keep=False)
        return None
    raise _Truncated  # an unknown type code means we are no longer reading a header


def _read_string(f: IO[bytes]) -> str:
    (length,) = _unpack(f, "<Q")
    return _read(f, length).decode("utf-8", errors="replace")


def _skip_string(f: IO[bytes]) -> None:
    (length,) = _unpack(f, "<Q")
    f.seek(length, 1)


def _unpack(f: IO[bytes], fmt: str) -> tuple[Any, ...]:
    return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))


def _read(f: IO[bytes], n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Truncated
    return data


def _plain(architecture: str) -> str:
    """llama.cpp and transformers spell some architectures differently (qwen2moe, qwen2_moe)."""
    return architecture.lower().replace("_", "").replace("-", "")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
