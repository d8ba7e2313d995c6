"""A capture read back from an activation store, as `capture` would have returned it.

`interp capture MODEL --prompts FILE --hooks ... --positions ... --out DIR` writes every selected row
to a store; `read_capture(DIR, model, items, hooks, positions=...)` gives the same `Captured` for
those items without running the model, so a large capture is made once and read by `extract`,
`probe` and `align` as often as needed. The store must be the capture of exactly these items by
this model (its provenance records the model's config hash and the items' hash), hold every asked
hook at these positions, and be finished; anything else is refused with what to run instead.

    got = read_capture("acts/", model, read_items("data.jsonl"), "resid_post", positions="last")
    got.activations["blocks.3.hook_resid_post"]      # rows in the order a fresh capture gives
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from interp.capture.items import Item, as_items, label_names
from interp.capture.run import Captured
from interp.errors import InterpError
from interp.hooks.names import expand_hooks
from interp.models.model import Model
from interp.store.provenance import dataset_hash
from interp.store.reader import ActivationReader

_RECAPTURE = "run `interp capture` on the same prompt file with the same model into a new --out"


def read_capture(
    store: str | Path,
    model: Model,
    items: Sequence[Item | str | dict],
    hooks: str | Sequence[str],
    *,
    positions: str,
) -> Captured:
    """The rows of `hooks` at `positions` for `items`, read from the store at `store`.

    Rows come sorted by (item, token position), the order `capture(..., reduce="keep")` returns,
    in the dtype they were stored in.

    >>> import interp, tempfile
    >>> model = interp.load_model("organism:add-small")
    >>> store = tempfile.mkdtemp() + "/acts"
    >>> _ = interp.capture_activations(model, ["Q:1+2=?", "Q:3+4=?"], "resid_post", out=store)
    >>> got = interp.read_capture(store, model, ["Q:1+2=?", "Q:3+4=?"], "resid_post",
    ...                           positions="last")
    >>> got.activations["blocks.0.hook_resid_post"].shape
    torch.Size([2, 64])
    """
    items = as_items(items)
    reader = ActivationReader(store)
    names = [
        p.name
        for p in expand_hooks(hooks if isinstance(hooks, str) else list(hooks), model.n_layers)
    ]
    _check_store(reader, model, items, names, positions)
    index, position = reader.prompt_index(), reader.position()
    # A resumed capture appends prompts out of order; a fresh one goes item by item, then by token.
    span = int(position.max()) + 1 if position.numel() else 1
    order = torch.argsort(index * span + position, stable=True)
    return Captured(
        hooks=names,
        positions=positions,
        labels=label_names(items),
        activations={name: reader.read(name)[order] for name in names},
        prompt_index=index[order],
        position=position[order],
    )


def _check_store(
    reader: ActivationReader,
    model: Model,
    items: list[Item],
    names: list[str],
    positions: str,
) -> None:
    """Refuse a store that is not this model's finished capture of these items at these points."""
    prov, where = reader.provenance, reader.dir
    if prov.get("kind") != "activations":
        raise InterpError(
            f"{where} holds {prov.get('kind')!r}, not kept activation rows",
            fix="capture with --reduce keep (the default)",
        )
    if prov.get("model_config_hash") != model.config_hash():
        raise InterpError(
            f"the store at {where} was captured from {prov.get('model_spec')!r} (config hash "
            f"{prov.get('model_config_hash')}), not from {model.spec!r} (config hash "
            f"{model.config_hash()})",
            fix="pass the model the store was captured from, or " + _RECAPTURE,
        )
    if prov.get("dataset_hash") != dataset_hash(item.to_json() for item in items):
        raise InterpError(
            f"the store at {where} holds a capture of other prompts ({prov.get('n_items')} items) "
            f"than the {len(items)} given",
            fix="pass the prompt file the store was captured from, or " + _RECAPTURE,
        )
    if prov.get("positions") != positions:
        raise InterpError(
            f"the store at {where} holds positions {prov.get('positions')!r}, not {positions!r}",
            fix=f"capture with --positions {positions}, or ask for the positions it holds",
        )
    missing = [name for name in names if name not in reader.hooks]
    if missing:
        raise InterpError(
            f"the store at {where} lacks {len(missing)} of the hook points asked for (first: "
            f"{missing[0]}); it holds {json.dumps(reader.hooks)}",
            fix="capture those hook points (e.g. --hooks resid_post for every layer)",
        )
    done = len(reader.completed & set(range(len(items))))
    if done < len(items):
        raise InterpError(
            f"the capture in {where} stopped after {done} of {len(items)} prompts",
            fix="rerun the same `interp capture` command: it resumes where it stopped",
        )
