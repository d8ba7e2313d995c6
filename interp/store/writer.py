"""`ActivationWriter`: append captured rows to an activation store, crash-safe and resumable.

Each shard is written atomically, then index.json is rewritten atomically, so the index only ever
lists complete shards and a prompt is "completed" only once all its rows are in one of them. A rerun
with the same provenance resumes: it skips `writer.completed`. The layout is `interp.store.shards`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.files import (
    atomic_write_json,
    check_metadata,
    remove_stale_temp_files,
    save_safetensors_atomic,
)
from interp.store.provenance import TIME_KEYS, provenance_mismatches
from interp.store.shards import (
    FORMAT,
    FORMAT_VERSION,
    INDEX,
    ROW_KEYS,
    check_shard_files,
    dtype_name,
    from_ranges,
    is_shard_name,
    read_index,
    shard_name,
    to_ranges,
)


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
            if any(is_shard_name(p.name) for p in self.dir.iterdir()):
                raise InterpError(
                    f"{self.dir} holds shard files but no {INDEX}, so what they hold is unknown",
                    fix="use a new --out or delete it",
                )
            return
        index = read_index(self.dir)
        if not index["shards"] and not index["completed"]:
            return  # an empty store: nothing to lose, so it is simply started afresh
        if not resume:
            raise InterpError(
                f"{self.dir} already holds an activation store",
                fix="pass resume=True to continue it, or use a new --out",
            )
        self._check_same_capture(index["provenance"])
        check_shard_files(self.dir, index["shards"])
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
            if is_shard_name(path.name) and path.name not in listed:
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
            self._dtype = {h: dtype_name(t.dtype) for h, t in rows.items()}
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
            if hook in self._dtype and dtype_name(tensor.dtype) != self._dtype[hook]:
                raise ValueError(
                    f"{hook}: dtype {dtype_name(tensor.dtype)} differs from the store's "
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
