"""The configuration of a transfer study: which models, which contrast, which grid, checked on load."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from interp.errors import InterpError


@dataclass(frozen=True)
class TransferConfig:
    """Everything needed to rerun a study; written to the run directory as config.json.

    contrast "prompt": one source model; locked = `locked_preamble`, unlocked = `unlocked_preamble`.
    contrast "model": locked = `source_locked`, unlocked = `source_unlocked`, both on the locked prompt.
    """

    source_locked: str
    target: str
    contrast: str = "prompt"
    source_unlocked: str | None = None
    skill: str = "add"
    n_operands: int = 4  # for skill "add": the organism zoo's family is trained on 4 operands
    digits: int = 2
    locked_preamble: str = ""
    unlocked_preamble: str = "Show steps.\n"
    method: str = (
        "mean"  # "mean" (uncentred alignment) or "pca" (centred), as methods.md pairs them
    )
    n_values: list[int] = field(default_factory=lambda: [32, 128])
    ranks: list[int] = field(default_factory=lambda: [4, 16, 64])
    alphas: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.5])
    n_select: int = 100
    n_test: int = 200
    n_controls: int = 5
    n_bootstrap: int = 2000
    max_new_tokens: int = 40
    batch_size: int = 64
    seed: int = 0
    dtype: str | None = None  # weights dtype of every model (default: the device's)
    device_map: str | dict | None = None  # "auto" or module -> device, for every model
    neutral_prompts: list[str] = field(
        default_factory=lambda: [
            "Q:what is this\nA:",
            "the end of the day",
            "Q:hello there\nA:",
            "numbers and letters",
        ]
    )

    @classmethod
    def from_file(cls, path: str | Path) -> TransferConfig:
        from interp.experiments.config_file import read_config_file

        return cls.from_dict(read_config_file(path), where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "config") -> TransferConfig:
        if not isinstance(raw, dict):
            raise InterpError(
                f"{where} must be a JSON object", fix='write {"source_locked": ..., "target": ...}'
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InterpError(
                f"{where} has unknown fields {unknown}", fix=f"use only {sorted(known)}"
            )
        missing = [name for name in ("source_locked", "target") if name not in raw]
        if missing:
            raise InterpError(
                f"{where} is missing the field(s) {missing}",
                fix="name the source and target models",
            )
        config = cls(**raw)
        config.check(where)
        return config

    def check(self, where: str = "config") -> None:
        from interp.experiments.loading import check_loading

        check_loading(self, where)
        if self.contrast not in ("prompt", "model"):
            raise InterpError(
                f"{where}: contrast {self.contrast!r} is neither 'prompt' nor 'model'",
                fix="pick one",
            )
        if self.contrast == "model" and not self.source_unlocked:
            raise InterpError(
                f"{where}: the model contrast needs 'source_unlocked'",
                fix="name the post-trained source",
            )
        if self.contrast == "prompt" and self.locked_preamble == self.unlocked_preamble:
            raise InterpError(
                f"{where}: the prompt contrast needs two different preambles",
                fix="set unlocked_preamble",
            )
        if self.method not in ("mean", "pca"):
            raise InterpError(
                f"{where}: method {self.method!r} is neither 'mean' nor 'pca'", fix="pick one"
            )
        for name in ("n_values", "ranks", "alphas"):
            values = getattr(self, name)
            if not isinstance(values, list) or not values:
                raise InterpError(
                    f"{where}: {name} must be a non-empty list", fix=f'e.g. "{name}": [1, 2]'
                )
            for value in values:
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or value != value
                    or value <= 0
                ):
                    raise InterpError(
                        f"{where}: {name} holds {value!r}, which is not a positive number",
                        fix=f"fix {name}",
                    )
        for name in ("n_values", "ranks"):
            if any(not isinstance(v, int) for v in getattr(self, name)):
                raise InterpError(f"{where}: {name} must hold whole numbers", fix=f"fix {name}")
        for name in (
            "n_select",
            "n_test",
            "n_controls",
            "max_new_tokens",
            "batch_size",
            "n_bootstrap",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InterpError(
                    f"{where}: {name} is {value!r}, not a positive whole number", fix=f"fix {name}"
                )

    def to_dict(self) -> dict:
        return asdict(self)
