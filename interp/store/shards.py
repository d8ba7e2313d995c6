"""Activation stores: rows of captured activations in safetensors shards, with an index.

A store is a directory:

    index.json                   what the shards hold: provenance, hooks, width and dtype per hook,
                                 shards with their row counts and sizes, prompts completed (as ranges)
    shard-00000.safetensors      one tensor per hook (rows, d) plus "prompt_index" and "position"
    shard-00001.safetensors      (rows,); header metadata = the provenance, so a shard describes itself
    ...

Writing is append-only and crash-safe: each shard is written atomically, then index.json is rewritten
atomically, so the index only ever lists complete shards and a prompt is "completed" only once all its
rows are in one of them. A rerun with the same provenance resumes: it skips `writer.completed`.

    with ActivationWriter("acts/", provenance) as writer:
        for batch in batches:
            if batch.prompts <= writer.completed: continue
            writer.add(batch.prompt_index, batch.position, {"blocks.3.hook_resid_post": h})

    store = ActivationReader("acts/")
    x = store.read("blocks.3.hook_resid_post", slice(0, 1000))      # opens only the shards it needs

This module holds the layout on disk (file names, index.json and its checks); `interp.store.writer`
appends to a store and `interp.store.reader` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from interp.errors import InterpError

INDEX = "index.json"
FORMAT = "interp-activations"
FORMAT_VERSION = 1
ROW_KEYS = ("prompt_index", "position")
RECAPTURE = "delete the directory and capture again, or capture into a new --out"


def shard_name(number: int) -> str:
    """File name of the `number`-th shard.

    >>> shard_name(3)
    'shard-00003.safetensors'
    """
    return f"shard-{number:05d}.safetensors"


def is_shard_name(name: str) -> bool:
    stem = name.removeprefix("shard-").removesuffix(".safetensors")
    return name.startswith("shard-") and name.endswith(".safetensors") and stem.isdigit()


def to_ranges(indices: Iterable[int]) -> list[list[int]]:
    """Sorted half-open `[start, stop)` ranges covering `indices`: how index.json stores them compactly.

    >>> to_ranges({0, 1, 2, 5, 7, 8})
    [[0, 3], [5, 6], [7, 9]]
    """
    ranges: list[list[int]] = []
    for i in sorted(set(indices)):
        if ranges and ranges[-1][1] == i:
            ranges[-1][1] = i + 1
        else:
            ranges.append([i, i + 1])
    return ranges


def from_ranges(ranges: Iterable[Iterable[int]]) -> set[int]:
    """The inverse of `to_ranges`.

    >>> sorted(from_ranges([[0, 3], [5, 6]]))
    [0, 1, 2, 5]
    """
    out: set[int] = set()
    for start, stop in ranges:
        out.update(range(int(start), int(stop)))
    return out


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def torch_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise InterpError(f"unknown dtype {name!r} in an activation store index", fix=RECAPTURE)
    return dtype


# ---- index.json ------------------------------------------------------------------------------


def read_index(store_dir: Path) -> dict[str, Any]:
    """Load and sanity-check `store_dir/index.json`; every failure is an `InterpError`."""
    fix = "pass the --out directory of an `interp capture --reduce keep` run"
    if not store_dir.exists():
        raise InterpError(f"no activation store at {store_dir}", fix=fix)
    if not store_dir.is_dir():
        raise InterpError(f"{store_dir} is not an activation store (it is a file)", fix=fix)
    path = store_dir / INDEX
    if not path.is_file():
        raise InterpError(f"{store_dir} is not an activation store (no {INDEX})", fix=fix)
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InterpError(f"cannot read {path}: {err}", fix=RECAPTURE) from err
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise InterpError(f"{path} is not an activation store index", fix=fix)
    if index.get("format_version", 0) > FORMAT_VERSION:
        raise InterpError(
            f"{path} was written by a newer interp (store format {index['format_version']})",
            fix="upgrade interp",
        )
    try:
        _validate_index(index)
    except (KeyError, TypeError, ValueError) as err:
        raise InterpError(f"{path} is damaged ({err!r})", fix=RECAPTURE) from err
    return index


def _validate_index(index: dict[str, Any]) -> None:
    """Raise KeyError/TypeError/ValueError where the index's fields do not fit together."""
    hooks = index["hooks"]
    if not all(isinstance(h, str) for h in hooks):
        raise TypeError("hook names must be strings")
    if set(index["d_model"]) != set(hooks) or set(index["dtype"]) != set(hooks):
        raise ValueError("d_model and dtype must name exactly the hooks")
    for shard in index["shards"]:
        if not is_shard_name(shard["file"]) or int(shard["rows"]) < 0 or int(shard["bytes"]) < 0:
            raise ValueError(f"bad shard entry {shard}")
    if not isinstance(index["provenance"], dict):
        raise TypeError("provenance must be an object")
    from_ranges(index["completed"])


def check_shard_files(store_dir: Path, shards: list[dict[str, Any]]) -> None:
    """Every listed shard exists with the size the index recorded (catches deletion, truncation)."""
    for shard in shards:
        path = store_dir / shard["file"]
        if not path.is_file():
            raise InterpError(
                f"shard {shard['file']} listed in {store_dir / INDEX} is missing", fix=RECAPTURE
            )
        size = path.stat().st_size
        if size != shard["bytes"]:
            raise InterpError(
                f"shard {path} is {size} bytes but the index says {shard['bytes']}: it was truncated "
                "or overwritten",
                fix=RECAPTURE,
            )
