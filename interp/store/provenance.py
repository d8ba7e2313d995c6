"""Provenance: where an artifact came from, as flat string metadata that safetensors can hold.

Every store shard and artifact carries a dict of strings saying which model (spec and config hash),
which hook points and positions, which data (hash and count), which dtype and which library version
made it. Loading compares that dict with what the caller is about to apply it to:

    prov = make_provenance(kind="activations", model_spec="organism:tiny", model_config_hash=h,
                           hooks=["blocks.0.hook_resid_post"], positions="last", dtype="float32",
                           dataset_hash=dataset_hash(prompts), n_items=len(prompts))
    check_provenance(loaded_metadata, prov, ["model_config_hash", "hooks"], what="direction set")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

from interp.errors import InterpError
from interp.hashing import canonical, canonical_json

# Keys make_provenance always sets; `extra` may not overwrite them.
CORE_KEYS = (
    "kind",
    "model_spec",
    "model_config_hash",
    "hooks",
    "positions",
    "dtype",
    "dataset_hash",
    "n_items",
    "interp_version",
    "created_utc",
)

# Keys that legitimately differ between two runs of the same capture.
TIME_KEYS = frozenset({"created_utc"})

_MISSING = "<missing>"


def dataset_hash(items: Iterable[str | Mapping]) -> str:
    """Order-sensitive sha256 (hex) over the canonical JSON of each item.

    >>> dataset_hash(["a", "b"]) != dataset_hash(["b", "a"])
    True
    """
    digest = hashlib.sha256()
    for item in items:
        # One line per item: the newline separates items, so ["ab"] and ["a", "b"] differ.
        digest.update(canonical_json(canonical(item)).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def library_version() -> str:
    """The installed interp version, recorded in every artifact.

    >>> library_version()   # doctest: +SKIP
    '0.1.0'
    """
    from interp import __version__

    return __version__


def make_provenance(
    *,
    kind: str,
    model_spec: str,
    model_config_hash: str,
    hooks: Sequence[str],
    positions: str,
    dtype: str,
    dataset_hash: str,
    n_items: int,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Provenance as a flat dict of strings (safetensors metadata); `hooks` is stored as a JSON list.

    >>> prov = make_provenance(kind="activations", model_spec="m", model_config_hash="ab12",
    ...                        hooks=["blocks.0.hook_resid_post"], positions="last", dtype="float32",
    ...                        dataset_hash="ff", n_items=3)
    >>> prov["n_items"], json.loads(prov["hooks"])
    ('3', ['blocks.0.hook_resid_post'])
    """
    prov = {
        "kind": str(kind),
        "model_spec": str(model_spec),
        "model_config_hash": str(model_config_hash),
        "hooks": json.dumps(list(hooks)),
        "positions": str(positions),
        "dtype": str(dtype).removeprefix("torch."),
        "dataset_hash": str(dataset_hash),
        "n_items": str(int(n_items)),
        "interp_version": library_version(),
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for key, value in (extra or {}).items():
        if key in prov:
            raise ValueError(f"extra provenance key {key!r} would overwrite a core key")
        if not isinstance(value, str):
            raise TypeError(
                f"extra provenance values must be str (safetensors metadata); {key!r} is a "
                f"{type(value).__name__}"
            )
        prov[key] = value
    return prov


def provenance_mismatches(
    found: Mapping[str, str], expected: Mapping[str, str], keys: Iterable[str]
) -> list[str]:
    """One "key: 'found' vs 'expected'" string per key whose values differ (a missing key differs).

    >>> provenance_mismatches({"a": "1"}, {"a": "2"}, ["a"])
    ["a: '1' vs '2'"]
    """
    out = []
    for key in keys:
        got, want = found.get(key, _MISSING), expected.get(key, _MISSING)
        if got != want:
            out.append(f"{key}: {got!r} vs {want!r}")
    return out


def check_provenance(
    found: Mapping[str, str],
    expected: Mapping[str, str],
    keys: Sequence[str],
    what: str,
    fix: str | None = None,
) -> None:
    """Raise `InterpError` naming every key in `keys` whose value in `found` differs from `expected`.

    `what` names the thing being checked, as the user knows it.

    >>> check_provenance({"model_config_hash": "aa"}, {"model_config_hash": "bb"},
    ...                  ["model_config_hash"], what="direction set d.safetensors")
    Traceback (most recent call last):
    interp.errors.InterpError: direction set d.safetensors does not match (found vs expected): model_config_hash: 'aa' vs 'bb'; use one made from the same model, hooks and data, or recompute it
    """
    mismatches = provenance_mismatches(found, expected, keys)
    if mismatches:
        raise InterpError(
            f"{what} does not match (found vs expected): {'; '.join(mismatches)}",
            fix=fix or "use one made from the same model, hooks and data, or recompute it",
        )
