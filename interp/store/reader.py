"""`ActivationReader`: read an activation store lazily, opening only the shards a read needs.

store = ActivationReader("acts/")
x = store.read("blocks.3.hook_resid_post", slice(0, 1000))
store.prompt_index(), store.position()          # which prompt and token each row came from
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from safetensors import SafetensorError, safe_open
from torch import Tensor

from interp.errors import InterpError
from interp.store.shards import (
    RECAPTURE,
    ROW_KEYS,
    check_shard_files,
    from_ranges,
    read_index,
    torch_dtype,
)


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
        index = read_index(self.dir)
        check_shard_files(self.dir, index["shards"])
        self.provenance: dict[str, str] = dict(index["provenance"])
        self.hooks: list[str] = list(index["hooks"])
        self.completed: set[int] = from_ranges(index["completed"])
        self._d = {h: int(d) for h, d in index["d_model"].items()}
        self._dtype = {h: torch_dtype(name) for h, name in index["dtype"].items()}
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
                        fix=RECAPTURE,
                    )
                return sliced[lo:hi]
        except SafetensorError as err:
            raise InterpError(f"shard {path} is corrupt ({err})", fix=RECAPTURE) from err
        except OSError as err:
            raise InterpError(f"cannot read shard {path} ({err})", fix=RECAPTURE) from err
