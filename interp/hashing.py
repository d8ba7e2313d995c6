"""Stable hashes of configs and data: canonical JSON (sorted keys, lists for tuples), then sha256.

The floor every layer may use: a model's config hash identifies it in every artifact made from it,
wherever and in whatever dtype it was loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

# Top-level config keys that say where or how a model was loaded, not what it is: the same weights
# loaded from another path, with another transformers release, in another dtype, or dequantized from
# a GGUF file rather than from its converted directory hash the same.
VOLATILE_CONFIG_KEYS = frozenset(
    {"transformers_version", "dtype", "torch_dtype", "quantization_config"}
)


def canonical(obj: Any) -> Any:
    """A JSON-ready copy with deterministic structure: string keys, lists for tuples and sets."""
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((canonical(v) for v in obj), key=canonical_json)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if getattr(obj, "ndim", None) == 0 and hasattr(obj, "item"):
        return obj.item()  # numpy / torch scalars hash like the Python number they hold
    return str(obj)  # dtypes, paths, enums: their printed form is what identifies them


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_hash(config: Mapping, ignore: Collection[str] | None = None) -> str:
    """First 16 hex characters of the sha256 of `config` as canonical JSON (sorted keys).

    Top-level keys in `ignore` are left out; by default those starting with "_" (such as
    `_name_or_path`) and `VOLATILE_CONFIG_KEYS`, so a model hashes the same wherever it was loaded
    from. Values JSON cannot hold are hashed by their `str()`.

    >>> config_hash({"hidden_size": 64, "num_layers": 2}) == config_hash({"num_layers": 2, "hidden_size": 64})
    True
    """
    if ignore is None:
        kept = {
            k: v
            for k, v in config.items()
            if not str(k).startswith("_") and k not in VOLATILE_CONFIG_KEYS
        }
    else:
        kept = {k: v for k, v in config.items() if k not in ignore}
    return sha256_hex(canonical_json(canonical(kept)))[:16]
