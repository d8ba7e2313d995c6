"""Find built organisms by name, and refuse ones whose files changed since they were built.

A zoo is a directory:

    zoo/manifest.json        what an auditor may know: {"organisms": [{"name": ..., ...}, ...]}
    zoo/answer_key.json      what would give an audit away (roles, passwords); never read here
    zoo/NAME/                a Hugging Face model directory (config, safetensors, tokenizer)
    zoo/NAME/checksums.json  sha256 of every other file in NAME/

The zoo is `$INTERP_ZOO` when set, else the one shipped beside this module.

    >>> organism_path("add-large")          # doctest: +SKIP
    PosixPath('.../interp/organisms/zoo/add-large')
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from interp.errors import InterpError

CHECKSUMS = "checksums.json"
MANIFEST = "manifest.json"
ANSWER_KEY = "answer_key.json"
DEFAULT_ZOO = Path(__file__).resolve().parent / "zoo"


def zoo_root() -> Path:
    """The zoo directory in use: `$INTERP_ZOO`, or the default zoo shipped with interp."""
    return Path(os.environ.get("INTERP_ZOO") or DEFAULT_ZOO)


def load_manifest(root: Path | None = None) -> dict:
    """The manifest of the zoo at `root` (default: `zoo_root()`)."""
    root = zoo_root() if root is None else Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise InterpError(
            f"no organism zoo at {root} (no {MANIFEST})",
            fix="run `interp organisms build`, or point INTERP_ZOO at a built zoo",
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InterpError(
            f"{path} is not valid JSON ({err.msg}, line {err.lineno})",
            fix="rebuild the zoo with `interp organisms build`",
        ) from None


def organism_names(root: Path | None = None) -> list[str]:
    return [entry["name"] for entry in load_manifest(root)["organisms"]]


def organism_path(name: str, root: Path | None = None, *, verify: bool = True) -> Path:
    """The directory of organism `name`, its checksums verified unless `verify` is False."""
    root = zoo_root() if root is None else Path(root)
    names = organism_names(root)
    if name not in names:
        raise InterpError(
            f"unknown organism {name!r}",
            fix=f"use one of: {', '.join(names)}" if names else "the zoo is empty; rebuild it",
        )
    path = root / name
    if verify:
        verify_checksums(path)
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(directory: Path) -> dict[str, str]:
    """Record the sha256 of every file in `directory` (except the record itself)."""
    directory = Path(directory)
    sums = {
        p.relative_to(directory).as_posix(): file_sha256(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != CHECKSUMS
    }
    (directory / CHECKSUMS).write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n")
    return sums


def verify_checksums(directory: Path) -> None:
    """Raise InterpError naming the first missing, changed or unexpected file in `directory`."""
    directory = Path(directory)
    fix = "rebuild the zoo with `interp organisms build` (or restore the directory from git)"
    record = directory / CHECKSUMS
    if not record.is_file():
        raise InterpError(f"organism directory {directory} has no {CHECKSUMS}", fix=fix)
    expected: dict[str, str] = json.loads(record.read_text())
    for rel, digest in expected.items():
        path = directory / rel
        if not path.is_file():
            raise InterpError(f"organism file {path} is missing", fix=fix)
        if file_sha256(path) != digest:
            raise InterpError(f"organism file {path} is corrupted (checksum mismatch)", fix=fix)
    extra = [
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and p.name != CHECKSUMS
    ]
    unexpected = sorted(set(extra) - set(expected))
    if unexpected:
        raise InterpError(
            f"organism directory {directory} holds files it was not built with: {unexpected}",
            fix=fix,
        )
