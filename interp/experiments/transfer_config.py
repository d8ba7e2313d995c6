"""The configuration of a transfer study: which models, which task and contrast, which grid; checked
on load, field by field, before any model time.

    {"source_locked": "SmolLM2-135M-Instruct.Q4_1.gguf", "target": "gemma-3-270m-q4_k_m.gguf",
     "task_file": "capitals.jsonl", "grader": "prefix_folded", "contrast": "fewshot", "n_shots": 3,
     "fit_sets": ["locked", "broad"], "fit_prompts": "fit_prompts.txt", "alphas": [0.02, 0.05]}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.experiments.config_checks import (
    check_fields,
    check_known_fields,
    flag,
    missing,
    nonempty_list_of,
    nonempty_text,
    one_of,
    optional,
    positive_int,
    positive_number,
    require,
    text,
)

CONTRASTS = ("prompt", "model", "fewshot")
# Which texts the maps are fitted on: UNLOCK's (the locked prompts of the N fit items); those plus
# the prompts of `fit_prompts` ("locked_prompts": the target never reads the unlocked condition); or
# both conditions of the fit items plus the prompts ("broad", spanning the carried direction, at the
# price of showing the target its own unlocked states).
FIT_SETS = ("locked", "locked_prompts", "broad")
LAYER_MATCHINGS = ("depth", "cka")
ENGINES = ("hf", "vllm")  # where the target generates (interp.experiments.transfer_engine)


@dataclass(frozen=True)
class TransferConfig:
    """Everything needed to rerun a study; written to the run directory as config.json.

    contrast "prompt": one source model; locked = `locked_preamble`, unlocked = `unlocked_preamble`.
    contrast "model": locked = `source_locked`, unlocked = `source_unlocked`, both on the locked prompt.
    contrast "fewshot": `n_shots` demonstrations before the item (unlocked) or none (locked).
    """

    source_locked: str
    target: str
    contrast: str = "prompt"
    source_unlocked: str | None = None
    skill: str = "add"  # an organism skill, when there is no task_file
    n_operands: int = 4  # for skill "add": the organism zoo's family is trained on 4 operands
    digits: int = 2
    task_file: str | None = None  # JSON lines {"prompt", "answer"} of one's own task
    grader: str | None = None  # default: "marker" for a skill, "prefix" for a task file
    n_shots: int = 3  # demonstrations before each item in the few-shot contrast
    demo_template: str = "{prompt} {answer}"
    locked_preamble: str = ""
    unlocked_preamble: str = "Show steps.\n"
    source_chat: bool = False  # texts go through the source's chat template as a user message
    target_chat: bool = False
    method: str = (
        "mean"  # "mean" (uncentred alignment) or "pca" (centred), as methods.md pairs them
    )
    n_values: list[int] = field(default_factory=lambda: [32, 128])
    ranks: list[int] = field(default_factory=lambda: [4, 16, 64])
    alphas: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.5])
    fit_sets: list[str] = field(default_factory=lambda: ["locked"])
    fit_prompts: str | None = None  # extra texts of the "broad" fit set (one a line, or JSON lines)
    layer_matchings: list[str] = field(default_factory=lambda: ["depth"])
    target_own_direction: bool = False  # also steer the target with its own contrast direction
    n_select: int = 100
    n_test: int = 200
    n_controls: int = 5
    n_bootstrap: int = 2000
    max_new_tokens: int = 40
    batch_size: int = 64
    seed: int = 0
    dtype: str | None = None  # weights dtype of every model (default: the device's)
    device_map: str | dict | None = None  # "auto" or module -> device, for every model
    engine: str = "hf"  # "vllm": the target's generations on one vLLM engine (transfer_engine)
    neutral_prompts: list[str] = field(
        default_factory=lambda: [
            "Q:what is this\nA:",
            "the end of the day",
            "Q:hello there\nA:",
            "numbers and letters",
        ]
    )

    @property
    def grader_name(self) -> str:
        if self.grader is not None:
            return self.grader
        return "marker" if self.task_file is None else "prefix"

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
        check_known_fields(raw, cls, where)
        absent = missing(raw, ("source_locked", "target"))
        if absent:
            raise InterpError(
                f"{where} is missing the field(s) {absent}", fix="name the source and target models"
            )
        config = cls(**raw)
        config.check(where)
        return config

    def check(self, where: str = "config") -> None:
        from interp.experiments.audit_task import GRADERS
        from interp.experiments.loading import check_loading

        check_loading(self, where)
        check_fields(self, RULES | {"grader": optional(one_of(*GRADERS))}, where)
        require(
            self.contrast != "model" or bool(self.source_unlocked),
            where,
            "the model contrast needs 'source_unlocked'",
            "name the post-trained source",
        )
        require(
            self.contrast != "prompt" or self.locked_preamble != self.unlocked_preamble,
            where,
            "the prompt contrast needs two different preambles",
            "set unlocked_preamble",
        )
        require(
            "{prompt}" in self.demo_template and "{answer}" in self.demo_template,
            where,
            f"demo_template {self.demo_template!r} must hold {{prompt}} and {{answer}}",
            'e.g. "{prompt} {answer}"',
        )
        require(
            "locked_prompts" not in self.fit_sets or bool(self.fit_prompts),
            where,
            "the locked_prompts fit set needs fit_prompts",
            "name a fit_prompts file, or leave locked_prompts out of fit_sets",
        )
        require(
            "broad" not in self.fit_sets or self.contrast != "model" or bool(self.fit_prompts),
            where,
            "the broad fit set of a model contrast needs fit_prompts (both conditions show the "
            "same texts)",
            'name a fit_prompts file, or use fit_sets ["locked"]',
        )
        self._check_files(where)

    def _check_files(self, where: str) -> None:
        """Task and fit-prompt files are read now, so a bad line fails before any model time."""
        if self.task_file is not None:
            from interp.experiments.transfer_task import load_splits

            load_splits(self)
        if self.fit_prompts is not None:
            from interp.experiments.transfer_fit import read_fit_prompts

            read_fit_prompts(self.fit_prompts)

    def to_dict(self) -> dict:
        return asdict(self)


RULES = {
    "source_locked": nonempty_text,
    "target": nonempty_text,
    "contrast": one_of(*CONTRASTS),
    "source_unlocked": optional(nonempty_text),
    "task_file": optional(nonempty_text),
    "n_shots": positive_int,
    "demo_template": text,
    "locked_preamble": text,
    "unlocked_preamble": text,
    "source_chat": flag,
    "target_chat": flag,
    "method": one_of("mean", "pca"),
    "n_values": nonempty_list_of(positive_int),
    "ranks": nonempty_list_of(positive_int),
    "alphas": nonempty_list_of(positive_number),
    "fit_sets": nonempty_list_of(one_of(*FIT_SETS), distinct=True),
    "fit_prompts": optional(nonempty_text),
    "layer_matchings": nonempty_list_of(one_of(*LAYER_MATCHINGS), distinct=True),
    "target_own_direction": flag,
    "n_select": positive_int,
    "n_test": positive_int,
    "n_controls": positive_int,
    "n_bootstrap": positive_int,
    "max_new_tokens": positive_int,
    "batch_size": positive_int,
    "neutral_prompts": nonempty_list_of(nonempty_text),
    "engine": one_of(*ENGINES),
}
