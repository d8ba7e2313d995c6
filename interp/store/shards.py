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
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from safetensors import SafetensorError, safe_open
from torch import Tensor

from interp.errors import InterpError
from interp.files import (
    atomic_write_json,
    check_metadata,
    remove_stale_temp_files,
    save_safetensors_atomic,
)
from interp.store.provenance import TIME_KEYS, provenance_mismatches

INDEX = "index.json"
FORMAT = "interp-activations"
FORMAT_VERSION = 1
ROW_KEYS = ("prompt_index", "position")
_RECAPTURE = "delete the directory and capture again, or capture into a new --out"


def shard_name(number: int) -> str:
    """File name of the `number`-th shard.

    >>> shard_name(3)
    'shard-00003.safetensors'
    """
    return f"shard-{number:05d}.safetensors"


def _is_shard_name(name: str) -> bool:
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


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _torch_dtype(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise InterpError(f"unknown dtype {name!r} in an activation store index", fix=_RECAPTURE)
    return dtype


# ---- index.json ------------------------------------------------------------------------------


def _read_index(store_dir: Path) -> dict[str, Any]:
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
        raise InterpError(f"cannot read {path}: {err}", fix=_RECAPTURE) from err
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
        raise InterpError(f"{path} is damaged ({err!r})", fix=_RECAPTURE) from err
    return index


def _validate_index(index: dict[str, Any]) -> None:
    """Raise KeyError/TypeError/ValueError where the index's fields do not fit together."""
    hooks = index["hooks"]
    if not all(isinstance(h, str) for h in hooks):
        raise TypeError("hook names must be strings")
    if set(index["d_model"]) != set(hooks) or set(index["dtype"]) != set(hooks):
        raise ValueError("d_model and dtype must name exactly the hooks")
    for shard in index["shards"]:
        if not _is_shard_name(shard["file"]) or int(shard["rows"]) < 0 or int(shard["bytes"]) < 0:
            raise ValueError(f"bad shard entry {shard}")
    if not isinstance(index["provenance"], dict):
        raise TypeError("provenance must be an object")
    from_ranges(index["completed"])


def _check_shard_files(store_dir: Path, shards: list[dict[str, Any]]) -> None:
    """Every listed shard exists with the size the index recorded (catches deletion, truncation)."""
    for shard in shards:
        path = store_dir / shard["file"]
        if not path.is_file():
            raise InterpError(
                f"shard {shard['file']} listed in {store_dir / INDEX} is missing", fix=_RECAPTURE
            )
        size = path.stat().st_size
        if size != shard["bytes"]:
            raise InterpError(
                f"shard {path} is {size} bytes but the index says {shard['bytes']}: it was truncated "
                "or overwritten",
                fix=_RECAPTURE,
            )


# ---- writing ---------------------------------------------------------------------------------


class ActivationWriter:
    """Appends captured rows to `<out>/shard-00000.safetensors`, ... and keeps `<out>/index.json` current.

    Rows arrive in `add` calls, each holding every row of one or more whole prompts; they are
    buffered and written as one shard once `shard_rows` or more are waiting (a shard may run over
    by part of a call, never splits a prompt). `completed` holds the prompts whose rows are on disk.

    With `resume=True` an existing store with the same provenance (apart from `created_utc`) is
    continued; a different one is refused. Use it as a context manager: on an exception, Ctrl-C
    included, the buffered rows (whole prompts, hence valid) are written before it propagates.

    >>> with ActivationWriter("acts/", prov, shard_rows=4096) as w:   # doctest: +SKIP
    ...     w.add(torch.tensor([0, 0, 1]), torch.tensor([3, 4, 2]), {"blocks.0.hook_resid_post": h})
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        provenance: Mapping[str, str],
        shard_rows: int = 65536,
        resume: bool = True,
    ) -> None:
        if shard_rows < 1:
            raise ValueError(f"shard_rows must be at least 1, not {shard_rows}")
        self.dir = Path(out_dir)
        self.provenance: dict[str, str] = check_metadata(provenance) or {}
        self.shard_rows = shard_rows
        self.hooks: list[str] = []
        self._d: dict[str, int] = {}
        self._dtype: dict[str, str] = {}
        self._shards: list[dict[str, Any]] = []
        self._completed: frozenset[int] = frozenset()
        self._buffer: dict[str, list[Tensor]] = {}
        self._buffered_rows = 0
        self._pending: set[int] = set()  # prompts whose rows are buffered, not yet on disk

        if self.dir.exists() and not self.dir.is_dir():
            raise InterpError(f"{self.dir} is a file", fix="pass a directory for the store")
        self.dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.dir)  # a crashed write's leftovers; never a complete file
        self._open_existing(resume)
        self._remove_unlisted_shards()
        self._write_index(self._shards, self._completed)

    # -- opening -------------------------------------------------------------------------------

    def _open_existing(self, resume: bool) -> None:
        if not (self.dir / INDEX).exists():
            if any(_is_shard_name(p.name) for p in self.dir.iterdir()):
                raise InterpError(
                    f"{self.dir} holds shard files but no {INDEX}, so what they hold is unknown",
                    fix="use a new --out or delete it",
                )
            return
        index = _read_index(self.dir)
        if not index["shards"] and not index["completed"]:
            return  # an empty store: nothing to lose, so it is simply started afresh
        if not resume:
            raise InterpError(
                f"{self.dir} already holds an activation store",
                fix="pass resume=True to continue it, or use a new --out",
            )
        self._check_same_capture(index["provenance"])
        _check_shard_files(self.dir, index["shards"])
        self.provenance = dict(index["provenance"])  # keeps the original created_utc
        self.hooks = list(index["hooks"])
        self._d = {h: int(d) for h, d in index["d_model"].items()}
        self._dtype = dict(index["dtype"])
        self._shards = list(index["shards"])
        self._completed = frozenset(from_ranges(index["completed"]))

    def _check_same_capture(self, stored: Mapping[str, str]) -> None:
        keys = sorted((set(stored) | set(self.provenance)) - TIME_KEYS)
        mismatches = provenance_mismatches(stored, self.provenance, keys)
        if mismatches:
            raise InterpError(
                f"{self.dir} was written by a different capture ({'; '.join(mismatches)}, "
                "stored vs this run)",
                fix="use a new --out or delete it",
            )

    def _remove_unlisted_shards(self) -> None:
        # A shard written just before a crash, whose index update never happened: its prompts are
        # not marked completed and will be captured again, so the file is dead weight.
        listed = {s["file"] for s in self._shards}
        for path in self.dir.iterdir():
            if _is_shard_name(path.name) and path.name not in listed:
                path.unlink()

    # -- state ---------------------------------------------------------------------------------

    @property
    def completed(self) -> frozenset[int]:
        """Prompt indices whose rows are all in shards on disk.

        Frozen and replaced on each flush rather than copied on each access, so `i in
        writer.completed` in a loop over many prompts stays cheap.
        """
        return self._completed

    @property
    def num_rows(self) -> int:
        """Rows on disk (buffered rows not counted)."""
        return sum(int(s["rows"]) for s in self._shards)

    # -- adding --------------------------------------------------------------------------------

    def add(
        self,
        prompt_index: Int[Tensor, " rows"],
        position: Int[Tensor, " rows"],
        activations: Mapping[str, Float[Tensor, "rows d"]],
        *,
        prompts: Iterable[int] | None = None,
    ) -> None:
        """Buffer the rows of one or more whole prompts; write a shard once `shard_rows` are waiting.

        `prompts` names the prompts these rows cover, for prompts that selected no rows at all (so
        they still count as completed); by default it is the distinct values of `prompt_index`.
        Every call must give the same hook names, each with a fixed width and dtype.
        Rows are held, not copied (views excepted), until the flush: do not modify them in place.

        >>> w.add(torch.tensor([7, 7]), torch.tensor([0, 1]), {"blocks.0.hook_resid_post": h})   # doctest: +SKIP
        """
        prompt_index = _as_index(prompt_index, "prompt_index")
        position = _as_index(position, "position")
        n = len(prompt_index)
        if len(position) != n:
            raise ValueError(f"prompt_index has {n} rows but position has {len(position)}")
        rows = self._check_activations(activations, n)
        covered = self._check_prompts(prompt_index, prompts)

        if not self.hooks:
            self.hooks = list(rows)
            self._d = {h: int(t.shape[1]) for h, t in rows.items()}
            self._dtype = {h: _dtype_name(t.dtype) for h, t in rows.items()}
        for hook, tensor in rows.items():
            self._buffer.setdefault(hook, []).append(tensor)
        self._buffer.setdefault("prompt_index", []).append(prompt_index)
        self._buffer.setdefault("position", []).append(position)
        self._buffered_rows += n
        self._pending |= covered
        if self._buffered_rows >= self.shard_rows:
            self.flush()

    def _check_activations(self, activations: Mapping[str, Tensor], n: int) -> dict[str, Tensor]:
        """`activations` as compact CPU tensors in store order, after checking names, shapes, dtypes."""
        if not activations:
            raise ValueError("activations is empty: give at least one hook's rows")
        names = list(activations)
        if self.hooks and set(names) != set(self.hooks):
            raise ValueError(
                f"hook names changed: this store holds {sorted(self.hooks)}, this call gave "
                f"{sorted(names)}"
            )
        reserved = set(names) & set(ROW_KEYS)
        if reserved:
            raise ValueError(f"{sorted(reserved)} is reserved for row bookkeeping, not a hook name")
        out = {}
        for hook, tensor in activations.items():
            if tensor.ndim != 2 or tensor.shape[0] != n:
                raise ValueError(
                    f"{hook}: expected shape ({n}, d) to match {n} prompt_index rows, got "
                    f"{tuple(tensor.shape)}"
                )
            if hook in self._d and tensor.shape[1] != self._d[hook]:
                raise ValueError(
                    f"{hook}: width {tensor.shape[1]} differs from the store's {self._d[hook]}"
                )
            if hook in self._dtype and _dtype_name(tensor.dtype) != self._dtype[hook]:
                raise ValueError(
                    f"{hook}: dtype {_dtype_name(tensor.dtype)} differs from the store's "
                    f"{self._dtype[hook]} (cast before adding)"
                )
            out[hook] = _compact(tensor)
        # Keep the store's hook order, whatever order this call's dict has.
        return {h: out[h] for h in (self.hooks or names)}

    def _check_prompts(self, prompt_index: Tensor, prompts: Iterable[int] | None) -> set[int]:
        present = set(prompt_index.tolist())
        covered = present if prompts is None else {int(p) for p in prompts}
        if not present <= covered:
            raise ValueError(f"rows for prompts {sorted(present - covered)} not named in prompts")
        # Membership tests, not a set union: the completed set can hold millions of prompts.
        again = {p for p in covered if p in self._completed or p in self._pending}
        if again:
            shown = sorted(again)[:5]
            raise ValueError(
                f"prompts {shown}{'...' if len(again) > 5 else ''} were already added; each "
                "prompt's rows must come in one call, once (skip writer.completed when resuming)"
            )
        return covered

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered rows as one shard, then index.json, each atomically.

        If the shard write fails the buffer is kept (a later `flush` retries) and the store on disk
        is as before.
        """
        if not self._pending and not self._buffered_rows:
            return
        shards = list(self._shards)
        if self._buffered_rows:
            name = shard_name(len(shards))
            tensors = {key: torch.cat(parts) for key, parts in self._buffer.items()}
            save_safetensors_atomic(self.dir / name, tensors, self.provenance)
            size = (self.dir / name).stat().st_size
            shards.append({"file": name, "rows": self._buffered_rows, "bytes": size})
        completed = self._completed | self._pending  # a new frozenset
        self._write_index(shards, completed)
        # Only now, with both files in place, does the in-memory state move on.
        self._shards, self._completed = shards, completed
        self._buffer, self._buffered_rows, self._pending = {}, 0, set()

    def _write_index(self, shards: list[dict[str, Any]], completed: frozenset[int]) -> None:
        atomic_write_json(
            self.dir / INDEX,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "provenance": self.provenance,
                "hooks": self.hooks,
                "d_model": self._d,
                "dtype": self._dtype,
                "num_rows": sum(int(s["rows"]) for s in shards),
                "shards": shards,
                "completed": to_ranges(completed),
            },
        )

    def close(self) -> None:
        """Write whatever is buffered."""
        self.flush()

    def __enter__(self) -> ActivationWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.flush()  # buffered rows are whole prompts, so they are worth keeping
        except Exception as err:
            # The original exception matters more; the store on disk is still consistent.
            warnings.warn(f"could not save buffered rows to {self.dir}: {err}", stacklevel=2)


def _as_index(values: Tensor, name: str) -> Tensor:
    tensor = torch.as_tensor(values)
    if tensor.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one entry per row), got shape {tuple(tensor.shape)}")
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must hold integers, got {tensor.dtype}")
    return _compact(tensor.to(torch.int64))


def _compact(tensor: Tensor) -> Tensor:
    """A CPU tensor owning just its own elements.

    A buffered view such as `h[:, -1]` would otherwise keep its whole (batch, pos, d) parent alive
    until the next flush.
    """
    tensor = tensor.detach().to("cpu").contiguous()
    if tensor.untyped_storage().nbytes() > tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    return tensor


# ---- reading ---------------------------------------------------------------------------------


class ActivationReader:
    """Read a store lazily: `read` opens only the shards that overlap the rows asked for.

    >>> store = ActivationReader("acts/")                               # doctest: +SKIP
    >>> store.hooks, store.num_rows, store.d_model(store.hooks[0])      # doctest: +SKIP
    (['blocks.3.hook_resid_post'], 12034, 512)
    >>> first = store.read("blocks.3.hook_resid_post", slice(0, 100), dtype=torch.float32)  # doctest: +SKIP
    >>> for batch in store.iter_batches("blocks.3.hook_resid_post", 4096): ...   # doctest: +SKIP
    """

    def __init__(self, store_dir: str | os.PathLike) -> None:
        self.dir = Path(store_dir)
        index = _read_index(self.dir)
        _check_shard_files(self.dir, index["shards"])
        self.provenance: dict[str, str] = dict(index["provenance"])
        self.hooks: list[str] = list(index["hooks"])
        self.completed: set[int] = from_ranges(index["completed"])
        self._d = {h: int(d) for h, d in index["d_model"].items()}
        self._dtype = {h: _torch_dtype(name) for h, name in index["dtype"].items()}
        self._shards: list[dict[str, Any]] = list(index["shards"])
        self._offsets = [0]  # shard i holds global rows [_offsets[i], _offsets[i + 1])
        for shard in self._shards:
            self._offsets.append(self._offsets[-1] + int(shard["rows"]))
        self.num_rows: int = self._offsets[-1]

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"ActivationReader({str(self.dir)!r}, rows={self.num_rows}, hooks={self.hooks})"

    def d_model(self, hook: str) -> int:
        """Width of the rows stored for `hook`."""
        self._check_hook(hook)
        return self._d[hook]

    def read(
        self, hook: str, rows: slice | None = None, dtype: torch.dtype | None = None
    ) -> Float[Tensor, "rows d"]:
        """Rows `rows` (a slice over all rows; default all) of `hook`, cast to `dtype` if given.

        >>> store.read("blocks.3.hook_resid_post", slice(1000, 3000)).shape   # doctest: +SKIP
        torch.Size([2000, 512])
        """
        self._check_hook(hook)
        out = self._read_rows(hook, rows)
        return out if dtype is None else out.to(dtype)

    def prompt_index(self) -> Int[Tensor, " rows"]:
        """For each row, the index of the prompt it came from."""
        return self._read_rows("prompt_index", None)

    def position(self) -> Int[Tensor, " rows"]:
        """For each row, its token position within the prompt."""
        return self._read_rows("position", None)

    def iter_batches(self, hook: str, batch_rows: int) -> Iterator[Float[Tensor, "batch d"]]:
        """Every row of `hook` once, in order, `batch_rows` at a time (the last batch may be short)."""
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
        self._check_hook(hook)
        for start in range(0, self.num_rows, batch_rows):
            yield self._read_range(hook, start, min(start + batch_rows, self.num_rows))

    # -- internals -----------------------------------------------------------------------------

    def _check_hook(self, hook: str) -> None:
        if hook not in self._d:
            raise InterpError(
                f"hook {hook!r} is not in the store {self.dir}",
                fix=f"use one of {self.hooks}" if self.hooks else "the store holds no rows yet",
            )

    def _read_rows(self, key: str, rows: slice | None) -> Tensor:
        if rows is None:
            return self._read_range(key, 0, self.num_rows)
        if not isinstance(rows, slice):
            raise TypeError(f"rows must be a slice or None, not {type(rows).__name__}")
        wanted = range(*rows.indices(self.num_rows))
        if wanted.step == 1 or len(wanted) == 0:
            return self._read_range(key, wanted.start, max(wanted.start, wanted.stop))
        # A strided slice: read the span once, then pick rows from it.
        lo, hi = min(wanted), max(wanted) + 1
        span = self._read_range(key, lo, hi)
        return span[torch.tensor(wanted, dtype=torch.long) - lo]

    def _read_range(self, key: str, start: int, stop: int) -> Tensor:
        """Rows [start, stop) of tensor `key`, touching only the shards that overlap them."""
        parts = []
        for i, shard in enumerate(self._shards):
            lo, hi = max(start, self._offsets[i]), min(stop, self._offsets[i + 1])
            if lo < hi:
                parts.append(
                    self._read_shard(shard, key, lo - self._offsets[i], hi - self._offsets[i])
                )
        if parts:
            return torch.cat(parts) if len(parts) > 1 else parts[0]
        if key in ROW_KEYS:
            return torch.zeros(0, dtype=torch.int64)
        return torch.zeros(0, self._d[key], dtype=self._dtype[key])

    def _read_shard(self, shard: dict[str, Any], key: str, lo: int, hi: int) -> Tensor:
        path = self.dir / shard["file"]
        try:
            with safe_open(path, framework="pt") as f:
                sliced = f.get_slice(key)
                if sliced.get_shape()[0] != shard["rows"]:
                    raise InterpError(
                        f"shard {path} holds {sliced.get_shape()[0]} rows of {key!r} but the index "
                        f"says {shard['rows']}",
                        fix=_RECAPTURE,
                    )
                return sliced[lo:hi]
        except SafetensorError as err:
            raise InterpError(f"shard {path} is corrupt ({err})", fix=_RECAPTURE) from err
        except OSError as err:
            raise InterpError(f"cannot read shard {path} ({err})", fix=_RECAPTURE) from err
