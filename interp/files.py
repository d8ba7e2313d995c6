"""Atomic writes: a file or directory appears whole or not at all.

Every artifact interp writes goes through here. The data is written to a temporary file beside the
target (same directory, so same filesystem), flushed to disk with fsync, then moved over the target
with `os.replace`, which is atomic on POSIX and Windows. Any exception, `KeyboardInterrupt`
included, removes the temporary file and leaves the old target untouched.

    atomic_write_json(run / "metrics.json", {"auroc": 0.93})
    save_safetensors_atomic(run / "directions.safetensors", {"blocks.3": v}, {"kind": "direction_set"})
    with atomic_directory(run) as tmp:       # `run` appears only if the block finishes
        atomic_write_text(tmp / "report.md", text)

Temporary names are `.<name>.<random>.tmp`; `is_temp_file` recognises them, so a crashed run's
leftovers can be swept (`remove_stale_temp_files`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import Tensor

from interp.errors import InterpError

TEMP_SUFFIX = ".tmp"


def is_temp_file(path: str | os.PathLike) -> bool:
    """True for names this module gives its temporary files and directories.

    >>> is_temp_file(".index.json.3fa9c0d1e2b4a5f6.tmp")
    True
    """
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files and directories left in `directory` by a crash; return what went.

    Only call this where no other writer is active in `directory`.

    >>> remove_stale_temp_files("runs/capture")   # doctest: +SKIP
    """
    removed = []
    for entry in Path(directory).iterdir():
        if not is_temp_file(entry):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (Windows), so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on any failure it is removed.

    For writers that insist on a filename (e.g. `safetensors.torch.save_file`):

    >>> with atomic_path("out/plot.png") as tmp:   # doctest: +SKIP
    ...     fig.savefig(tmp, format="png")
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        # BaseException: a Ctrl-C during the write must not leave the temporary file behind.
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (parent directories are created).

    >>> atomic_write_bytes("out/blob.bin", b"\\x00\\x01")   # doctest: +SKIP
    """
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically.

    >>> atomic_write_text("out/report.md", "# Results\\n")   # doctest: +SKIP
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as JSON (indent 2, sorted keys, trailing newline) atomically.

    The object is serialised before anything touches the disk, so a value JSON cannot hold raises
    `TypeError` and leaves `path` as it was.

    >>> atomic_write_json("out/metrics.json", {"auroc": 0.93})   # doctest: +SKIP
    """
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_safetensors_atomic(
    path: str | os.PathLike,
    tensors: Mapping[str, Tensor],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save `tensors` to a safetensors file atomically, with string `metadata` in its header.

    >>> save_safetensors_atomic("d.safetensors", {"v": torch.ones(4)}, {"kind": "direction"})   # doctest: +SKIP
    """
    metadata = check_metadata(metadata)
    prepared = _prepare_tensors(tensors)
    with atomic_path(path) as tmp:
        save_file(prepared, tmp, metadata=metadata)


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    """A copy of `metadata` after checking every key and value is a str (`TypeError` otherwise).

    >>> check_metadata({"kind": "probe"})
    {'kind': 'probe'}
    """
    if metadata is None:
        return None
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"safetensors metadata must map str to str; {key!r} has a {type(value).__name__} "
                "value (encode it with json.dumps or str first)"
            )
    return dict(metadata)


def _prepare_tensors(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached, contiguous CPU tensors; a second name for the same storage gets its own copy."""
    prepared: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{name!r} is a {type(tensor).__name__}, not a torch.Tensor")
        t = tensor.detach().cpu().contiguous()
        storage = t.untyped_storage().data_ptr()
        if storage in seen and t.numel() > 0:
            # safetensors refuses tensors that share memory; a copy is cheaper than a failed save.
            t = t.clone()
            storage = t.untyped_storage().data_ptr()
        seen.add(storage)
        prepared[name] = t
    return prepared


@contextmanager
def atomic_directory(final_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling directory that becomes `final_dir` only if the block succeeds.

    Refuses (before the block runs) if `final_dir` exists and is not empty; an empty `final_dir` is
    replaced. On any failure, Ctrl-C included, the temporary directory is removed.

    >>> with atomic_directory("runs/demo") as tmp:   # doctest: +SKIP
    ...     atomic_write_json(tmp / "config.json", config)
    """
    final = Path(final_dir)
    _refuse_non_empty(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        _refuse_non_empty(final)  # something may have written there while the block ran
        if final.exists():
            final.rmdir()
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)


def _refuse_non_empty(final: Path) -> None:
    if final.is_dir() and any(final.iterdir()):
        raise InterpError(
            f"{final} already exists and is not empty",
            fix="choose a new output directory or delete the old one",
        )
    if final.exists() and not final.is_dir():
        raise InterpError(
            f"{final} exists and is a file, not a directory", fix="choose a new output path"
        )


__all__ = [
    "atomic_directory",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_metadata",
    "is_temp_file",
    "remove_stale_temp_files",
    "save_safetensors_atomic",
]


def json_lines(path: Path, *, fix: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record) for each non-blank line of a JSON-lines file; a line that is
    not JSON is one `InterpError` naming the file and line, with `fix` as the remedy."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as err:
            raise InterpError(f"{path}:{n} is not JSON ({err.msg})", fix=fix) from None
