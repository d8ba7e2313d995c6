"""The configuration of a probe-transfer study, checked on load (before any model time).

    {"models": {"smollm2": "~/.cache/interp/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                "gemma3": "~/.cache/interp/models/gemma-3-270m-q4_k_m.gguf"},
     "data": "examples/truth_probe/statements.jsonl", "test_fraction": 0.4,
     "maps": [{"fit": "unlock", "rank": 16}, {"fit": "ridge", "alpha": 100.0}]}

Paths are relative to the working directory; `~` is expanded.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.experiments.config_checks import (
    check_fields,
    check_known_fields,
    missing,
    nonempty_list_of,
    optional,
    positive_int,
    positive_number,
    whole_number,
)
from interp.hooks.names import HOOK_KINDS


def _default_maps() -> list[dict[str, Any]]:
    return [{"fit": "unlock", "rank": 16}, {"fit": "unlock", "rank": 64}]


@dataclass(frozen=True)
class ProbeTransferConfig:
    """Everything needed to rerun the study; written to the run directory as config.json.

    Both directions are run: a probe trained on each model is carried into the other.
    """

    models: dict[str, str]  # exactly two: a short name -> a model spec
    data: str  # statements JSON lines (see probe_transfer_data)
    test_data: str | None = None  # held-out statements; else `data` is split by group
    test_fraction: float = 0.4  # share of the groups held out when splitting `data`
    align_prompts: str | None = None  # more shared texts for the maps, beside the training ones
    map_texts: str = "statements"  # maps fit on training statements (+ align_prompts), or "align"
    hook: str = "resid_post"
    layers: dict[str, list[int]] | None = None  # per model name; None: every layer
    maps: list[dict[str, Any]] = field(default_factory=_default_maps)  # candidates for the map
    C: float = 0.1
    folds: int = 5
    n_perm: int = 20  # shuffled-label reruns of each layer's cross-validation
    n_boot: int = 1000
    n_random: int = 20  # random maps, and shuffled-label probes, per direction
    seed: int = 0
    batch_size: int = 16
    dtype: str | None = None
    device_map: str | dict | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> ProbeTransferConfig:
        from interp.experiments.config_file import read_config_file

        return cls.from_dict(read_config_file(path), where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "config") -> ProbeTransferConfig:
        if not isinstance(raw, dict):
            raise InterpError(
                f"{where} must be a JSON object", fix='write {"models": {...}, "data": ...}'
            )
        check_known_fields(raw, cls, where)
        absent = missing(raw, ("models", "data"))
        if absent:
            raise InterpError(
                f"{where} is missing {absent}", fix="name two models and a statements file"
            )
        config = cls(**raw)
        config.check(where)
        return config

    def check(self, where: str = "config") -> None:
        """Every field's type and range; files are checked by `check_files`."""
        from interp.experiments.loading import check_loading

        check_loading(self, where)
        if (
            not isinstance(self.models, dict)
            or len(self.models) != 2
            or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in self.models.items()
            )
        ):
            raise InterpError(
                f"{where}: models must name exactly two model specs",
                fix='write "models": {"a": "path/a.gguf", "b": "path/b"}',
            )
        check_fields(self, RULES, where)
        if not 0 < self.test_fraction < 1:
            raise InterpError(
                f"{where}: test_fraction {self.test_fraction!r} is not between 0 and 1",
                fix="use e.g. 0.4",
            )
        if self.hook not in HOOK_KINDS:
            raise InterpError(
                f"{where}: unknown hook kind {self.hook!r}", fix=f"use one of {HOOK_KINDS}"
            )
        if self.map_texts not in ("statements", "align"):
            raise InterpError(
                f"{where}: map_texts {self.map_texts!r} is neither 'statements' nor 'align'",
                fix="pick one",
            )
        if self.map_texts == "align" and self.align_prompts is None:
            raise InterpError(
                f"{where}: map_texts 'align' fits the maps on align_prompts, but none are given",
                fix="name a file of shared texts in align_prompts",
            )
        if self.folds < 2:
            raise InterpError(f"{where}: folds must be 2 or more", fix="use 5")
        if self.layers is not None:
            self._check_layers(where)
        for spec in self.maps:
            check_map_spec(spec, where)

    def _check_layers(self, where: str) -> None:
        if not isinstance(self.layers, dict) or set(self.layers) - set(self.models):
            raise InterpError(
                f"{where}: layers must map model names ({sorted(self.models)}) to layer lists",
                fix='e.g. "layers": {"a": [4, 8, 12]}',
            )
        for name, layers in self.layers.items():
            if nonempty_list_of(whole_number, distinct=True)(layers) is not None:
                raise InterpError(
                    f"{where}: layers of {name!r} must be distinct whole numbers",
                    fix="list layer indices from 0",
                )

    def check_files(self) -> None:
        """Every file the study reads exists, and every model spec resolves: one line if not."""
        from interp.models.specs import resolve_spec

        for name in ("data", "test_data", "align_prompts"):
            value = getattr(self, name)
            if value is not None and not Path(value).expanduser().is_file():
                raise InterpError(f"{name} file {value} does not exist", fix="check the path")
        for spec in self.models.values():
            resolve_spec(spec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RULES = {
    "C": positive_number,
    "folds": positive_int,
    "n_perm": positive_int,
    "n_boot": positive_int,
    "n_random": positive_int,
    "seed": whole_number,
    "batch_size": positive_int,
    "maps": nonempty_list_of(lambda spec: None if isinstance(spec, dict) else "is not an object"),
    "test_data": optional(lambda v: None if isinstance(v, str) and v else "is not a path"),
    "align_prompts": optional(lambda v: None if isinstance(v, str) and v else "is not a path"),
}


def check_map_spec(spec: dict[str, Any], where: str) -> None:
    """A map candidate names a fitter of `interp.align` and only options that fitter takes."""
    from interp.align import get_fitter

    name = spec.get("fit")
    if not isinstance(name, str):
        raise InterpError(
            f"{where}: map {spec} names no fit", fix='e.g. {"fit": "unlock", "rank": 16}'
        )
    fitter = get_fitter(name)
    accepted = set(inspect.signature(fitter).parameters) - {"X_S", "X_T"}
    if "alpha" in accepted:  # probe_carry.map_options scales it to the source's activations
        accepted.add("alpha_rel")
        if {"alpha", "alpha_rel"} <= set(spec):
            raise InterpError(
                f"{where}: map {spec} gives both alpha and alpha_rel", fix="keep one of them"
            )
    unknown = sorted(set(spec) - {"fit"} - accepted)
    if unknown:
        raise InterpError(
            f"{where}: map {spec} has options {unknown} that fit {name!r} does not take",
            fix=f"use {sorted(accepted)}",
        )
    if name == "unlock" and positive_int(spec.get("rank")) is not None:
        raise InterpError(f"{where}: map {spec} needs a positive rank", fix="add e.g. rank 16")


def map_label(spec: dict[str, Any]) -> str:
    """A short name for a map candidate: `unlock(rank=16)`."""
    options = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "fit")
    return f"{spec['fit']}({options})"
