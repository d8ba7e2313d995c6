"""`interp align` as a study: per-layer maps between two models, with held-out fit quality.

    config = AlignConfig(source="organism:add-medium", target="organism:add-large",
                         prompts="shared.txt", out="maps.safetensors", rank=16)
    result = run_align(config, load=load_model)
    result.maps[5]                 # (source layer, LinearMap) feeding target layer 5
    [q.r2 for q in result.quality]

Both models read the same prompts at the last prompt token, every layer's resid_post. The prompts
are split at random (by `seed`) into a training part, on which one map per target layer is fitted
(`interp.align.fit_layer_maps`), and a held-out part (`holdout` of them) on which each map's R^2
and cosine are measured. With `from_store` (the source's store, then the target's), activations are
read from stores `interp capture` wrote for the prompts, instead of running the models over them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from torch import Tensor

from interp.align import LayerMaps, fit_layer_maps, fit_report
from interp.capture.items import Item, read_items
from interp.capture.run import capture
from interp.errors import InterpError
from interp.experiments.config_checks import check_known_fields
from interp.models.model import Model
from interp.store.provenance import dataset_hash

HOOK = "resid_post"
POSITIONS: Final = "last"


@dataclass(frozen=True)
class AlignConfig:
    """What `interp align` was asked to do (its options, parsed)."""

    source: str
    target: str
    prompts: str
    out: str | None = None  # the maps file; None keeps the maps in the result only
    rank: int = 16
    fit: str = "unlock"
    centre: bool = False
    layers: str = "depth"
    holdout: float = 0.25
    seed: int = 0
    batch_size: int = 8
    from_store: tuple[str, str] | None = None  # the source's store, then the target's

    @classmethod
    def from_file(cls, path: str | Path) -> AlignConfig:
        from interp.experiments.config_file import read_config_file

        return cls.from_dict(read_config_file(path), where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "config") -> AlignConfig:
        """The config a JSON object describes: the fields above, `from_store` as a list of two."""
        if not isinstance(raw, dict):
            raise InterpError(f"{where} must be a JSON object", fix='write {"source": ...}')
        check_known_fields(raw, cls, where)
        absent = [name for name in ("source", "target", "prompts") if name not in raw]
        if absent:
            raise InterpError(
                f"{where} is missing the field(s) {absent}", fix="name both models and the prompts"
            )
        stores = raw.get("from_store")
        if stores is not None and (not isinstance(stores, list | tuple) or len(stores) != 2):
            raise InterpError(
                f"{where}: from_store must list two stores", fix="the source's, then the target's"
            )
        config = cls(**{**raw, "from_store": tuple(stores) if stores else None})
        config.check()
        return config

    def check(self) -> None:
        if not 0.0 <= self.holdout < 1.0:
            raise InterpError(f"--holdout {self.holdout} is not in [0, 1)", fix="use e.g. 0.25")


@dataclass(frozen=True)
class LayerQuality:
    """How well the map into one target layer predicts that layer's held-out activations."""

    target_layer: int
    source_layer: int
    r2: float
    mean_cosine: float
    report: dict[str, Any]  # everything `interp.align.fit_report` measured

    def as_json(self) -> dict[str, Any]:
        return {"source_layer": self.source_layer, **self.report}


@dataclass(frozen=True)
class AlignResult:
    maps: LayerMaps
    out: str | None  # where the maps were saved
    n_train: int
    n_held_out: int
    quality: tuple[LayerQuality, ...]  # empty when nothing was held out

    def summary(self) -> dict[str, Any]:
        """What `interp align --json` prints."""
        return {
            "out": self.out,
            "train": self.n_train,
            "held_out": self.n_held_out,
            "quality": {q.target_layer: q.as_json() for q in self.quality},
        }


def run_align(
    config: AlignConfig, load: Callable[[str], Model], progress: bool = False
) -> AlignResult:
    """Check, load both models, read their activations, fit on the training split, measure on the
    held-out one, save the maps to `config.out` (when it names a file)."""
    config.check()
    items = read_items(config.prompts)
    train, test = split(len(items), config.holdout, config.seed)
    if len(train) < 2:
        raise InterpError(
            f"only {len(train)} training prompts after the holdout",
            fix="give more prompts or a smaller --holdout",
        )
    stores: tuple[str | None, str | None] = config.from_store or (None, None)
    if config.from_store is not None:
        from interp.store.reader import ActivationReader

        for path in config.from_store:
            ActivationReader(path)  # a wrong path fails here, before any model loads

    acts: dict[str, dict[str, Tensor]] = {}
    models: dict[str, Model] = {}
    for role, spec, store in zip(
        ("source", "target"), (config.source, config.target), stores, strict=True
    ):
        models[role] = load(spec)
        acts[role] = read_activations(models[role], items, store, config.batch_size, progress)
    opts = {"rank": config.rank, "centre": config.centre} if config.fit == "unlock" else {}
    maps = fit_layer_maps(
        {h: a[train] for h, a in acts["source"].items()},
        {h: a[train] for h, a in acts["target"].items()},
        source=models["source"],
        target=models["target"],
        fit=config.fit,
        layers=config.layers,
        dataset_hash=dataset_hash(items[i].to_json() for i in train),
        **opts,
    )
    quality = []
    if test:
        for target_layer, (source_layer, linear_map) in maps.maps.items():
            x_s = acts["source"][f"blocks.{source_layer}.hook_{HOOK}"][test]
            x_t = acts["target"][f"blocks.{target_layer}.hook_{HOOK}"][test]
            report = fit_report(linear_map, x_s, x_t)
            quality.append(
                LayerQuality(
                    target_layer,
                    source_layer,
                    float(report["r2"]),
                    float(report["mean_cosine"]),
                    report,
                )
            )
    if config.out is not None:
        maps.save(config.out)
    return AlignResult(maps, config.out, len(train), len(test), tuple(quality))


def split(n: int, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """(training, held-out) item indices, each sorted: `round(holdout * n)` held out at random."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test = int(round(holdout * n))
    return sorted(order[n_test:]), sorted(order[:n_test])


def read_activations(
    model: Model, items: list[Item], store: str | None, batch_size: int, progress: bool
) -> dict[str, Tensor]:
    """Every layer's resid_post at each prompt's last token, one row per item, in item order."""
    if store is not None:
        from interp.capture.stored import read_capture

        return read_capture(store, model, items, HOOK, positions=POSITIONS).activations
    got = capture(model, items, HOOK, positions=POSITIONS, batch_size=batch_size, progress=progress)
    return got.activations
