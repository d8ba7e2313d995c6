"""`capture`: run items through a model in padded batches and reduce activations at hook points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from interp.capture.batching import encode_item, make_batch, select_positions
from interp.capture.items import Item, as_items, label_names
from interp.capture.names import REDUCTIONS, Positions
from interp.capture.reducers import (
    Keep,
    LabelMeans,
    LabelStats,
    Mean,
    Moments,
    MomentStats,
    Reducer,
    Scores,
)
from interp.errors import InterpError
from interp.hooks.context import hooked
from interp.hooks.names import expand_hooks
from interp.models.model import Model
from interp.models.tokens import Chat
from interp.probes.scoring import ProbeBank
from interp.progress import track

Reduction = Literal["keep", "mean", "label_mean", "moments"]


@dataclass
class Captured:
    """What a capture produced; only the fields of the reductions asked for are filled."""

    hooks: list[str]
    positions: str
    labels: list[str] = field(default_factory=list)
    activations: dict[str, Tensor] = field(default_factory=dict)  # keep: hook -> (rows, d_model)
    prompt_index: Tensor | None = None  # keep: item index of each row
    position: Tensor | None = None  # keep: token index of each row within its item
    means: dict[str, Tensor] = field(default_factory=dict)
    label_means: dict[str, LabelStats] = field(default_factory=dict)
    moments: dict[str, MomentStats] = field(default_factory=dict)
    scores: dict[str, Tensor] = field(default_factory=dict)  # probes: hook -> (rows, k) float32
    store: Path | None = None


def capture(
    model: Model,
    prompts: Iterable[str | Chat | Item | dict],
    hooks: str | Sequence[str] = "resid_post",
    *,
    positions: Positions = "last",
    reduce: Reduction | Sequence[Reduction] = "keep",
    batch_size: int = 8,
    padding_side: Literal["left", "right"] = "left",
    out: str | Path | None = None,
    store_dtype: torch.dtype | None = None,
    progress: bool = True,
    probes: Mapping[str, ProbeBank] | None = None,
) -> Captured:
    """Read activations at `hooks` and `positions` for every prompt.

    With `out`, kept rows go to an on-disk store (resumable: rerunning skips finished items).
    With `probes` (hook -> `ProbeBank`), each selected row is also scored by the bank at its hook
    where the activations are (the projection kernel on CUDA), into `scores` (hook -> (rows, k)),
    rows in `prompt_index` order; only the scores move to the host. Exported as
    `interp.capture_activations`.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> got = interp.capture_activations(model, ["Q:1+2=?", "Q:3+4=?"], "blocks.-1.hook_resid_post")
    >>> got.activations["blocks.1.hook_resid_post"].shape      # the last prompt token of each
    torch.Size([2, 64])
    >>> got = interp.capture_activations(model, ["Q:1+2=?"], "resid_post", positions="all")
    >>> got.hooks, got.activations["blocks.0.hook_resid_post"].shape   # BOS and 7 characters
    (['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post'], torch.Size([8, 64]))
    """
    items = as_items(prompts)
    if not items:
        raise InterpError("no prompts to capture", fix="pass at least one prompt")
    if batch_size < 1:
        raise InterpError(
            f"batch size {batch_size} is not positive", fix="use --batch-size 1 or more"
        )
    points = expand_hooks(list(hooks) if not isinstance(hooks, str) else hooks, model.n_layers)
    if any(p.kind == "pattern" for p in points):
        raise InterpError(
            "capture reads one row per token, but an attention pattern is (head, q, k) per prompt",
            fix="read it with interp.hooked at blocks.{layer}.attn.hook_pattern, or capture "
            "attn.hook_q and attn.hook_k",
        )
    names = [p.name for p in points]
    reductions = [reduce] if isinstance(reduce, str) else list(reduce)
    for r in reductions:
        if r not in REDUCTIONS:
            raise InterpError(f"unknown reduction {r!r}", fix=f"use one of {', '.join(REDUCTIONS)}")
    labels = label_names(items)
    if "label_mean" in reductions and not labels:
        raise InterpError(
            "reduction 'label_mean' needs a label on every item",
            fix='give records {"prompt": ..., "label": ...}',
        )
    label_ids = torch.tensor([labels.index(str(i.label)) if labels else 0 for i in items])

    # Encode everything first, so bad input fails before any model time is spent.
    encoded = [encode_item(model.tokenizer, item) for item in items]
    selected = [
        select_positions(item, enc, positions) for item, enc in zip(items, encoded, strict=True)
    ]

    writer = None
    todo = list(range(len(items)))
    if out is not None and "keep" in reductions:
        writer = _open_store(model, out, names, positions, items, store_dtype)
        todo = [i for i in todo if i not in writer.completed]

    reducers: dict[str, Reducer] = {}
    for r in reductions:
        if r == "keep":
            reducers[r] = Keep(writer, store_dtype)
        elif r == "mean":
            reducers[r] = Mean()
        elif r == "label_mean":
            reducers[r] = LabelMeans(len(labels))
        else:
            reducers[r] = Moments()
    if probes:
        banks = {expand_hooks([hook], model.n_layers)[0].name: b for hook, b in probes.items()}
        unread = sorted(set(banks) - set(names))
        if unread:
            raise InterpError(
                f"probes at {unread} but capture reads only {names}",
                fix="capture the hooks the probes were fitted at",
            )
        reducers["scores"] = Scores(banks)

    def reader(name: str):
        def read(h: Tensor) -> None:
            # A head-level point with every head (batch, pos, head, d_head): heads side by side.
            h = h.flatten(2) if h.ndim == 4 else h
            for reducer in reducers.values():
                reducer.update(name, h)

        return read

    pad_id = model.tokenizer.pad_token_id
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    # The writer saves finished prompts even when the run is interrupted, so a rerun resumes.
    with (
        writer if writer is not None else nullcontext(),
        hooked(model, [(n, reader(n)) for n in names]),
    ):
        for rows in track(batches, "capture", unit="batch", enabled=progress and len(batches) >= 2):
            batch = make_batch(
                [encoded[i] for i in rows], [selected[i] for i in rows], rows, pad_id, padding_side
            )
            for reducer in reducers.values():
                reducer.begin_batch(batch, label_ids[rows])
            model.forward(batch.input_ids, batch.attention_mask, last_logits_only=True)
            for reducer in reducers.values():
                reducer.end_batch()

    result = Captured(hooks=names, positions=positions, labels=labels)
    if "scores" in reducers:
        scores = reducers["scores"]
        assert isinstance(scores, Scores)
        result.scores = scores.result()
        result.prompt_index = _cat_index(scores.prompt_index)
        result.position = _cat_index(scores.position)
    if "keep" in reducers and writer is None:
        keep = reducers["keep"]
        assert isinstance(keep, Keep)
        result.activations = keep.result()
        result.prompt_index = (
            torch.cat(keep.prompt_index) if keep.prompt_index else torch.zeros(0, dtype=torch.long)
        )
        result.position = (
            torch.cat(keep.position) if keep.position else torch.zeros(0, dtype=torch.long)
        )
    if writer is not None:
        result.store = Path(out)  # type: ignore[arg-type]
    if "mean" in reducers:
        result.means = reducers["mean"].result()  # type: ignore[assignment]
    if "label_mean" in reducers:
        result.label_means = reducers["label_mean"].result()  # type: ignore[assignment]
    if "moments" in reducers:
        result.moments = reducers["moments"].result()  # type: ignore[assignment]
    if out is not None and set(reductions) - {"keep"}:
        _save_reduced(model, Path(out), result, items)
    return result


def _provenance(
    model: Model, names: list[str], positions: str, items: list[Item], dtype: str, kind: str
) -> dict[str, str]:
    from interp.store.provenance import dataset_hash, make_provenance

    return make_provenance(
        kind=kind,
        model_spec=model.spec,
        model_config_hash=model.config_hash(),
        hooks=names,
        positions=positions,
        dtype=dtype,
        dataset_hash=dataset_hash(item.to_json() for item in items),
        n_items=len(items),
    )


def _open_store(model: Model, out, names, positions, items, store_dtype):
    from interp.store.writer import ActivationWriter

    dtype = str(store_dtype or model.dtype).removeprefix("torch.")
    return ActivationWriter(
        Path(out), _provenance(model, names, positions, items, dtype, "activations")
    )


def _save_reduced(model: Model, out: Path, result: Captured, items: list[Item]) -> None:
    """Streaming results as one safetensors file, `reduced.safetensors`, with provenance."""
    import json

    from interp.files import save_safetensors_atomic

    tensors: dict[str, Tensor] = {}
    for hook, mean in result.means.items():
        tensors[f"mean/{hook}"] = mean
    for hook, stats in result.label_means.items():
        tensors[f"label_mean/{hook}"] = stats.means
        tensors[f"label_count/{hook}"] = stats.counts.float()
    for hook, moments in result.moments.items():
        tensors[f"moments_mean/{hook}"] = moments.mean.float()
        tensors[f"moments_cov/{hook}"] = moments.covariance.float()
        tensors[f"moments_count/{hook}"] = torch.tensor([moments.count])
    metadata = _provenance(
        model, result.hooks, result.positions, items, "float32", "reduced_activations"
    )
    metadata["labels"] = json.dumps(result.labels)
    out.mkdir(parents=True, exist_ok=True)
    save_safetensors_atomic(out / "reduced.safetensors", tensors, metadata)


def _cat_index(parts: list[Tensor]) -> Tensor:
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
