"""llama.cpp control vectors: a `DirectionSet` written as, and read back from, a GGUF file.

The file llama.cpp loads with `--control-vector FILE` / `--control-vector-scaled FILE SCALE`
(common/common.cpp `common_control_vector_load_one`, src/llama-adapter.cpp) is a GGUF file with
`general.architecture = "controlvector"`, the metadata `controlvector.model_hint` (the model's
architecture) and `controlvector.layer_count`, and one 1-D F32 tensor `direction.{k}` per layer,
k >= 1. llama.cpp adds `scale * direction.k` to the output of its block k (0-based: the loader
stores `direction.k` at row k-1, and `apply` hands row k-1 to block k, whose graph adds it right
after the block's last residual add, `l_out`), at every position, prompt and generated tokens
alike, without normalizing. That is interp's `blocks.{k}.hook_resid_post`, so the layer numbers
carry over unchanged, and block 0's output can never be steered (a `direction.0` is refused).

    write_control_vector(ds, "honesty.gguf")          # then: llama-cli ... --control-vector-scaled honesty.gguf 4
    ds = read_control_vector("honesty.gguf")          # interp's own export, or repeng's

The same steering in interp is `steered(model, ds, "add", alpha=SCALE, positions="all",
phase="both")`. repeng's `ControlVector.export_gguf` writes this format too (model hint = its
`model_type`, layer count = number of directions), so `read_control_vector` reads its files.
interp's export also keeps the set's provenance under `interp.*` keys, so that reading it back
gives an equal `DirectionSet`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from interp.directions.direction_set import DirectionSet
from interp.errors import InterpError
from interp.files import atomic_path
from interp.store.artifacts import ModelRef

ARCHITECTURE = "controlvector"
# The one hook a llama.cpp control vector acts at: the output of a block, every position.
HOOK = "resid_post"
_TENSOR = re.compile(r"^direction\.(\d+)$")
_PREFIX = "interp."
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def combine_for_export(
    sets: Sequence[DirectionSet],
    component: int | None = None,
    layers: Sequence[int] | None = None,
) -> DirectionSet:
    """One direction per layer from one or more sets, restricted to `layers` when given.

    A control vector holds one direction per layer; several sets covering the same layer are
    ambiguous (llama.cpp would sum them), so they are refused unless `component` names the set
    whose directions to export.
    """
    combined = _one_per_layer(sets, component)
    if layers is None:
        return combined
    missing = sorted(set(layers) - set(combined.layers))
    if missing:
        raise InterpError(
            f"the direction set has no layers {missing} (it has {list(combined.layers)})",
            fix="pass --layers among the covered ones",
        )
    chosen = tuple(sorted(set(layers)))
    rows = torch.stack([combined.vector(layer) for layer in chosen])
    return replace(combined, vectors=rows, layers=chosen)


def _one_per_layer(sets: Sequence[DirectionSet], component: int | None) -> DirectionSet:
    if not sets:
        raise InterpError("no direction set to export", fix="pass at least one direction set file")
    if component is not None:
        if not 0 <= component < len(sets):
            raise InterpError(
                f"--component {component} is out of range for {len(sets)} direction sets",
                fix=f"pass --component in 0..{len(sets) - 1}",
            )
        return sets[component]
    if len(sets) == 1:
        return sets[0]
    seen: dict[int, int] = {}
    for index, ds in enumerate(sets):
        for layer in ds.layers:
            if layer in seen:
                raise InterpError(
                    f"layer {layer} has {sum(layer in s.layers for s in sets)} directions (sets "
                    f"{seen[layer]} and {index}); a control vector holds one per layer",
                    fix=f"say which set to export with --component 0..{len(sets) - 1}",
                )
            seen[layer] = index
    first = sets[0]
    for ds in sets[1:]:
        if (ds.hook, ds.model) != (first.hook, first.model):
            raise InterpError(
                "the direction sets come from different models or hooks "
                f"({first.model.spec!r} at {first.hook} vs {ds.model.spec!r} at {ds.hook})",
                fix="export sets of one model and hook, or one at a time",
            )
    order = sorted(seen)
    rows = torch.stack([sets[seen[layer]].vector(layer) for layer in order])
    methods = " | ".join(ds.method for ds in sets)
    return DirectionSet(rows, tuple(order), first.model, first.hook, methods)


def write_control_vector(
    ds: DirectionSet, path: str | Path, *, model_hint: str | None = None
) -> Path:
    """Write `ds` as a llama.cpp control vector (atomically); returns the path.

    Refuses a set at another hook than resid_post and a set with a direction at layer 0, which
    llama.cpp cannot apply. float32, bfloat16 and float16 sets round-trip exactly (the file holds
    float32, as llama.cpp requires); a float64 set is rounded to float32.
    """
    import gguf
    import numpy as np

    if ds.hook != HOOK:
        raise InterpError(
            f"the direction set is read at hook_{ds.hook}, but a llama.cpp control vector is "
            "added to each block's output (hook_resid_post)",
            fix="extract the directions with --hook resid_post",
        )
    if 0 in ds.layers:
        raise InterpError(
            "the direction set has a direction at layer 0, which llama.cpp never steers "
            "(direction.0 is refused by its loader)",
            fix="export the other layers: --layers 1,2,...",
        )
    if not ds.layers:
        raise InterpError("the direction set has no layers", fix="export a non-empty set")
    hint = model_hint or _default_hint(ds.model.spec)
    path = Path(path)
    with atomic_path(path) as tmp:
        writer = gguf.GGUFWriter(str(tmp), ARCHITECTURE)
        writer.add_string(f"{ARCHITECTURE}.model_hint", hint)
        # llama.cpp's cvector-generator writes n_layer - 1 (every steerable block); the loader
        # does not read it. interp writes the same: the steerable blocks of the model.
        writer.add_int32(f"{ARCHITECTURE}.layer_count", ds.model.n_layers - 1)
        for key, value in _provenance(ds).items():
            writer.add_string(_PREFIX + key, value)
        vectors = ds.vectors.detach().to("cpu", torch.float32).numpy()
        for layer, row in zip(ds.layers, vectors, strict=True):
            writer.add_tensor(f"direction.{layer}", np.ascontiguousarray(row, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return path


def read_control_vector(
    path: str | Path, *, model: ModelRef | None = None, n_layers: int | None = None
) -> DirectionSet:
    """A llama.cpp control vector (interp's export, llama.cpp's cvector-generator's, repeng's) as
    a `DirectionSet` at resid_post, `direction.k` becoming layer k.

    interp's own export carries its model and provenance. Other files say only the model's
    architecture, so the set records `model` when given; else a reference named by the model hint,
    with no config hash (any model of that width and depth accepts it) and `n_layers` (default:
    the highest layer + 1).
    """
    import gguf

    path = Path(path)
    if not path.is_file():
        raise InterpError(f"no control vector file at {path}", fix="check the path")
    try:
        reader = gguf.GGUFReader(str(path))
    except (ValueError, OSError, IndexError) as err:
        raise InterpError(
            f"{path} is not a readable GGUF file ({err})",
            fix="pass a llama.cpp control vector (.gguf) written by interp export, llama.cpp or repeng",
        ) from None
    fields = {name: _field_value(reader, name) for name in reader.fields}
    arch = fields.get("general.architecture")
    if arch != ARCHITECTURE:
        raise InterpError(
            f"{path} is a GGUF file of architecture {arch!r}, not a control vector",
            fix="pass a control vector file (general.architecture = 'controlvector'), not a model",
        )
    rows: dict[int, torch.Tensor] = {}
    for tensor in reader.tensors:
        match = _TENSOR.match(tensor.name)
        if match is None or int(match.group(1)) == 0:
            raise InterpError(
                f"{path} has a tensor {tensor.name!r}; a control vector holds only direction.k, k >= 1",
                fix="the file is not a valid control vector; export it again",
            )
        if tensor.tensor_type != gguf.GGMLQuantizationType.F32 or len(tensor.shape) != 1:
            raise InterpError(
                f"{path}: {tensor.name} is not a 1-D float32 tensor",
                fix="the file is not a valid control vector; export it again",
            )
        rows[int(match.group(1))] = torch.from_numpy(tensor.data.copy())
    if not rows:
        raise InterpError(f"{path} holds no direction tensors", fix="export a non-empty set")
    widths = {row.shape[0] for row in rows.values()}
    if len(widths) > 1:
        raise InterpError(
            f"{path} has directions of different widths {sorted(widths)}",
            fix="the file is not a valid control vector; export it again",
        )
    layers = tuple(sorted(rows))
    vectors = torch.stack([rows[layer] for layer in layers])
    own = {k.removeprefix(_PREFIX): str(v) for k, v in fields.items() if k.startswith(_PREFIX)}
    if own and model is None:
        return _from_provenance(vectors, layers, own, path)
    hint = str(fields.get(f"{ARCHITECTURE}.model_hint", "unknown"))
    ref = model or ModelRef(
        spec=hint,
        config_hash="",
        d_model=vectors.shape[1],
        n_layers=n_layers if n_layers is not None else layers[-1] + 1,
    )
    return DirectionSet(vectors, layers, ref, HOOK, method=f"control_vector({path.name})")


def _provenance(ds: DirectionSet) -> dict[str, str]:
    return {
        **ds.model.to_metadata(),
        "method": ds.method,
        "dataset_hash": ds.dataset_hash,
        "n_items": str(ds.count),
        "interp_version": ds.interp_version,
        "dtype": str(ds.vectors.dtype).removeprefix("torch."),
    }


def _from_provenance(
    vectors: torch.Tensor, layers: tuple[int, ...], meta: dict[str, str], path: Path
) -> DirectionSet:
    try:
        ref = ModelRef.from_metadata(meta, path)
        dtype = _DTYPES.get(meta.get("dtype", "float32"), torch.float32)
        return DirectionSet(
            vectors.to(dtype),
            layers,
            ref,
            HOOK,
            meta["method"],
            meta["dataset_hash"],
            int(meta["n_items"]),
            meta["interp_version"],
        )
    except (KeyError, ValueError) as err:
        raise InterpError(
            f"{path} has damaged interp metadata ({err})",
            fix="export it again with interp export",
        ) from None


def _field_value(reader, name: str) -> object:
    """A scalar or string metadata value of the GGUF file (arrays are not needed here)."""
    field = reader.fields[name]
    if not field.types:
        return None
    try:
        return field.contents()
    except (ValueError, IndexError, TypeError):
        return None


def _default_hint(spec: str) -> str:
    """The llama.cpp architecture of the model when its spec is a GGUF file, else its spec."""
    if spec.endswith(".gguf") and Path(spec).is_file():
        from interp.models.gguf import read_gguf_header

        return read_gguf_header(spec).architecture
    return spec


def describe(ds: DirectionSet) -> dict[str, object]:
    """A JSON-able summary of a set, for the command line."""
    return {
        "layers": list(ds.layers),
        "hook": ds.hook,
        "d_model": ds.d_model,
        "model": ds.model.spec,
        "method": ds.method,
        "norms": [round(float(n), 6) for n in ds.vectors.float().norm(dim=-1)],
    }
