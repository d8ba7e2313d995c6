"""Activations and artifacts on disk: atomic writes, provenance, and sharded activation stores.

    from interp.store import ActivationReader, atomic_write_json, make_provenance
    store = ActivationReader("acts/")
    x = store.read("blocks.3.hook_resid_post", slice(0, 1024))

Atomic writes (files and directories that appear whole or not at all) come from `interp.files`;
`provenance` builds and checks the string metadata every artifact carries; `artifacts` writes and
reads one artifact file and the model it belongs to (`ModelRef`); `shards` is the layout of a
resumable activation store, which `writer` appends to and `reader` reads lazily.
"""

from __future__ import annotations

from interp.files import (
    atomic_directory,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    save_safetensors_atomic,
)
from interp.hashing import config_hash
from interp.store.artifacts import ModelRef, read_artifact, write_artifact
from interp.store.provenance import (
    check_provenance,
    dataset_hash,
    library_version,
    make_provenance,
)
from interp.store.reader import ActivationReader
from interp.store.writer import ActivationWriter

__all__ = [
    "ActivationReader",
    "ActivationWriter",
    "ModelRef",
    "atomic_directory",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_provenance",
    "config_hash",
    "dataset_hash",
    "library_version",
    "make_provenance",
    "read_artifact",
    "save_safetensors_atomic",
    "write_artifact",
]
