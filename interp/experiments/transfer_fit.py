"""The transfer study's fitted pieces: what each model reads, the source direction, the layer maps
for each fit set and layer matching, and the direction carried into the target.

Every model reads the residual stream after every block at the last prompt token of the same texts
(each through its own chat template where the config says so): the locked and unlocked texts of the
fit items, and the extra `fit_prompts`. The maps of a grid point are fitted on the first n fit items'
rows: the locked ones ("locked"), those and the extra prompts ("locked_prompts"), or both conditions
and the extra prompts ("broad"); one reading serves every n.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from interp.align import LayerMaps, fit_layer_maps
from interp.capture.run import capture
from interp.directions import DirectionSet
from interp.errors import InterpError
from interp.experiments.transfer_config import TransferConfig
from interp.experiments.transfer_task import Conditions, TaskItem, as_model_prompt
from interp.models.model import Model
from interp.store.provenance import dataset_hash

Acts = dict[str, Tensor]  # hook -> (texts, d_model), float32


def read_fit_prompts(path: str | Path) -> list[str]:
    """The extra texts of the locked_prompts and broad fit sets: plain prompts, one a line (or
    JSON lines)."""
    from interp.capture.items import read_items
    from interp.models.tokens import Chat

    items = read_items(path)
    if any(isinstance(item.prompt, Chat) or item.response is not None for item in items):
        raise InterpError(
            f"{path} holds chat messages or responses; fit prompts are plain texts",
            fix="write one prompt per line (a chat model's template is applied by the study)",
        )
    return [str(item.prompt) for item in items]


def last_token_acts(model: Model, texts: list[str], batch_size: int, chat: bool = False) -> Acts:
    """Residual stream after every block at each text's last prompt token, in float32."""
    prompts = [as_model_prompt(chat)(t) for t in texts]
    got = capture(
        model, prompts, "resid_post", positions="last", batch_size=batch_size, progress=False
    )
    return {hook: acts.float() for hook, acts in got.activations.items()}


@dataclass
class Readings:
    """What each model read, once for the whole grid."""

    locked_texts: list[str]
    source_locked: Acts  # source-locked model, locked texts of the fit items
    source_unlocked: Acts  # source-unlocked model, unlocked texts
    target_locked: Acts
    target_unlocked: Acts | None  # for the broad fit set and the target's own direction
    source_extra: Acts | None  # fit prompts (locked_prompts and broad fit sets)
    target_extra: Acts | None


def read_all(
    config: TransferConfig,
    conditions: Conditions,
    fit_items: list[TaskItem],
    source: Model,
    unlocked: Model,
    target: Model,
) -> Readings:
    locked = [conditions.locked(i) for i in fit_items]
    unlocked_texts = (
        [conditions.unlocked(i) for i in fit_items] if config.contrast != "model" else locked
    )
    broad = "broad" in config.fit_sets
    wants_extra = broad or "locked_prompts" in config.fit_sets
    extra = read_fit_prompts(config.fit_prompts) if wants_extra and config.fit_prompts else None
    size = config.batch_size
    s_chat, t_chat = config.source_chat, config.target_chat
    return Readings(
        locked,
        last_token_acts(source, locked, size, s_chat),
        last_token_acts(unlocked, unlocked_texts, size, s_chat),
        last_token_acts(target, locked, size, t_chat),
        last_token_acts(target, unlocked_texts, size, t_chat)
        if (broad or config.target_own_direction) and config.contrast != "model"
        else None,
        last_token_acts(source, extra, size, s_chat) if extra else None,
        last_token_acts(target, extra, size, t_chat) if extra else None,
    )


def source_direction(
    config: TransferConfig, readings: Readings, source: Model, n: int
) -> DirectionSet:
    method = "mean_difference" if config.method == "mean" else "pca_of_differences"
    return DirectionSet.from_contrast(
        _first(readings.source_unlocked, n),
        _first(readings.source_locked, n),
        method,
        model=source,
        dataset_hash=dataset_hash(readings.locked_texts[:n]),
    )


def own_direction(
    config: TransferConfig, readings: Readings, target: Model, n: int
) -> DirectionSet:
    """The target's own unlocked-minus-locked direction: what steering can do inside the target."""
    if readings.target_unlocked is None:
        raise InterpError(
            "the target's own direction needs an unlocked condition the target can read",
            fix="use the prompt or fewshot contrast, or set target_own_direction false",
        )
    method = "mean_difference" if config.method == "mean" else "pca_of_differences"
    return DirectionSet.from_contrast(
        _first(readings.target_unlocked, n),
        _first(readings.target_locked, n),
        method,
        model=target,
        dataset_hash=dataset_hash(readings.locked_texts[:n]),
    )


def fit_maps(
    config: TransferConfig,
    readings: Readings,
    source: Model,
    target: Model,
    n: int,
    rank: int,
    fit_set: str,
    matching: str,
) -> LayerMaps:
    """Per-layer maps from the source-locked model into the target, fitted on `fit_set`'s rows."""
    xs, xt = _first(readings.source_locked, n), _first(readings.target_locked, n)
    texts = readings.locked_texts[:n]
    if fit_set != "locked":
        parts = [(xs, xt)]
        if fit_set == "broad" and readings.target_unlocked is not None:
            # The unlocked texts too: the target's own unlocked states enter the fit.
            unlocked = (_first(readings.source_unlocked, n), _first(readings.target_unlocked, n))
            parts.append(unlocked)
        if readings.source_extra is not None and readings.target_extra is not None:
            parts.append((readings.source_extra, readings.target_extra))
        xs = {h: torch.cat([p[0][h] for p in parts]) for h in xs}
        xt = {h: torch.cat([p[1][h] for p in parts]) for h in xt}
        texts = texts + [f"{fit_set}:{len(parts)}"]
    return fit_layer_maps(
        xs,
        xt,
        source=source,
        target=target,
        fit="unlock",
        layers=matching,
        dataset_hash=dataset_hash(texts),
        rank=rank,
        centre=config.method == "pca",
    )


def _first(acts: Acts, n: int) -> Acts:
    return {hook: rows[:n] for hook, rows in acts.items()}
