"""`LinearProbe`: a fitted linear read-out of one hook point, with its checks and its file.

A probe scores a token's activation x (width d_model) as

    score(x) = ((x - mean) / std) . w + b  =  x . w_raw + b_raw,    w_raw = w / std,
                                                                    b_raw = b - mean . w_raw

and a response as the mean of its tokens' scores (methods.md section 2). Probes come from the
fitters in `interp.probes.fit`; many are scored at once by `interp.probes.scoring`.

    probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model, hook=hook)
    per_response = probe.score_responses(rows, prompt_index)       # (n_prompts,)
    probe.save("probe.safetensors")
    probe = LinearProbe.load("probe.safetensors", model=model, hook=hook)   # refuses a mismatch

Files are safetensors (no pickle): tensors `weight`, `bias`, `mean`, `std` (float64) and string
metadata with `"kind": "probe"`, the hook and layer, the method, the model (`model_spec`,
`model_config_hash`, `model_d_model`, `model_n_layers`), the data (`dataset_hash`, `n_items` prompts,
`n_rows`, `n_positive`, `n_negative`), the threshold and its calibration (`threshold`,
`threshold_fpr`, `n_control`; JSON `null` when uncalibrated) and `interp_version`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError
from interp.hooks.names import parse_hook
from interp.probes.logistic import Standardizer
from interp.probes.scoring import mean_per_prompt, score_many
from interp.store.artifacts import (
    ModelLike,
    ModelRef,
    meta_json,
    meta_str,
    read_artifact,
    tensor_named,
    write_artifact,
)
from interp.store.provenance import library_version

KIND = "probe"
FORMAT_VERSION = "1"
METHODS = ("logistic", "mass_mean")
_LAYER = re.compile(r"^blocks\.(-?\d+)\.")


@dataclass(frozen=True, eq=False, repr=False)
class LinearProbe:
    """A linear probe over standardized features of one hook point, with provenance.

    `weight` and `bias` act on `standardizer(x)`; `effective_weight()` gives the same score on raw
    activations. `threshold` (when calibrated, see `interp.probes.calibrate`) flags a response whose
    mean score is strictly above it.

    >>> probe = LinearProbe(torch.ones(4), Standardizer.identity(4))
    >>> probe.score_tokens(torch.ones(2, 3, 4)).shape
    torch.Size([2, 3])
    """

    weight: Float[Tensor, " d_model"]
    standardizer: Standardizer
    bias: float = 0.0
    hook: str | None = None
    model: ModelRef | None = None
    method: str = "logistic"
    C: float | None = None
    threshold: float | None = None
    threshold_fpr: float | None = None
    n_control: int = 0
    dataset_hash: str = ""
    n_prompts: int = 0
    n_rows: int = 0
    n_positive: int = 0  # prompts labelled 1
    n_negative: int = 0  # prompts labelled 0
    # Why this probe may not be trusted (e.g. its layer's cross-validated AUROC fell below the
    # shuffled-label control), carried in the file so that whoever loads it sees it.
    warning: str = ""
    interp_version: str = field(default_factory=library_version)

    def __post_init__(self) -> None:
        w = self.weight
        if not isinstance(w, Tensor) or w.ndim != 1:
            raise InterpError(
                "probe weight must be a 1-D (d_model,) tensor", fix="pass one weight per feature"
            )
        if self.standardizer.d != w.shape[0]:
            raise InterpError(
                f"probe weight is {w.shape[0]} wide but its standardizer {self.standardizer.d}",
                fix="fit both on the same features",
            )
        if self.method not in METHODS:
            raise InterpError(f"unknown probe method {self.method!r}", fix=f"use one of {METHODS}")
        # A probe of one attention head (`blocks.3.attn.hook_z[4]`) is d_head wide, not d_model.
        reads_stream = self.hook is None or ".attn.hook_" not in self.hook
        if self.model is not None and reads_stream and self.model.d_model != w.shape[0]:
            raise InterpError(
                f"probe weight is {w.shape[0]} wide but {self.model.spec!r} has d_model "
                f"{self.model.d_model}",
                fix="fit the probe on that model's activations",
            )
        if self.hook is not None and self.model is not None:
            # Canonical name (non-negative layer), so `check_model` compares like with like.
            object.__setattr__(self, "hook", parse_hook(self.hook, self.model.n_layers).name)
        object.__setattr__(self, "bias", float(self.bias))

    # ---- reading ---------------------------------------------------------------------------
    @property
    def d_model(self) -> int:
        return int(self.weight.shape[0])

    @property
    def layer(self) -> int | None:
        """The block index in `hook` (`blocks.{layer}.hook_...`), or None without a hook."""
        match = _LAYER.match(self.hook or "")
        return int(match.group(1)) if match else None

    def effective_weight(self) -> tuple[Float[Tensor, " d_model"], float]:
        """(w_raw, b_raw) with `score(x) = x . w_raw + b_raw` on raw activations (float64)."""
        return self.standardizer.fold(self.weight, self.bias)

    def with_threshold(
        self, threshold: float, fpr: float | None = None, n_control: int = 0
    ) -> LinearProbe:
        """A copy carrying a calibrated threshold (see `calibrate_probe`)."""
        return replace(
            self, threshold=float(threshold), threshold_fpr=fpr, n_control=int(n_control)
        )

    # ---- scoring ---------------------------------------------------------------------------
    def score_tokens(self, acts: Float[Tensor, "*batch d_model"]) -> Float[Tensor, " *batch"]:
        """The score of every token: `x . w_raw + b_raw` (float32, float64 for float64 input)."""
        return score_many(acts, [self])[..., 0]

    def score_responses(
        self,
        acts: Sequence[Float[Tensor, "tokens d_model"]] | Float[Tensor, "rows d_model"],
        prompt_index: Int[Tensor, " rows"] | None = None,
        n_prompts: int | None = None,
    ) -> Float[Tensor, " responses"]:
        """Mean token score of each response: `s_r = (1/|r|) sum_{t in r} score(x_t)`.

        Either a list with one `(n_tokens_i, d_model)` tensor per response (returns one score per
        list entry), or rows with `prompt_index` (returns a tensor indexed by prompt id, of length
        `n_prompts` or `max(prompt_index) + 1`). A response without tokens scores NaN.

        >>> probe.score_responses([torch.randn(5, 4), torch.randn(2, 4)]).shape   # doctest: +SKIP
        torch.Size([2])
        """
        if prompt_index is None:
            if isinstance(acts, Tensor):
                raise InterpError(
                    "score_responses got one tensor of rows but no prompt_index",
                    fix="pass prompt_index (which response each row belongs to), or a list of "
                    "per-response tensors",
                )
            if len(acts) == 0:
                return torch.zeros(0)
            lengths = torch.tensor([a.shape[0] for a in acts], dtype=torch.long)
            rows = torch.cat([a.reshape(-1, self.d_model) for a in acts])  # (sum n_i, d)
            prompt_index = torch.repeat_interleave(torch.arange(len(acts)), lengths)
            return mean_per_prompt(self.score_tokens(rows), prompt_index, len(acts))
        if not isinstance(acts, Tensor):
            raise InterpError(
                "with prompt_index, pass the rows as one (rows, d_model) tensor",
                fix="torch.cat the responses, or drop prompt_index and pass the list",
            )
        return mean_per_prompt(self.score_tokens(acts), prompt_index, n_prompts)

    def flag(self, response_scores: Float[Tensor, " responses"]) -> Tensor:
        """True for responses scoring strictly above the calibrated threshold."""
        if self.threshold is None:
            raise InterpError(
                "this probe has no threshold", fix="calibrate it first (calibrate_probe)"
            )
        return response_scores > self.threshold

    # ---- checks ------------------------------------------------------------------------------
    def check_model(
        self, model: ModelLike | ModelRef, hook: str | None = None, *, strict: bool = True
    ) -> None:
        """Refuse a model of another width or (with `strict`) config, or another hook point.

        >>> probe.check_model(model, "blocks.3.hook_resid_post")   # doctest: +SKIP
        """
        if self.model is None:
            raise InterpError(
                "this probe records no model, so it cannot be checked against one",
                fix="fit it with model=... (and hook=...)",
            )
        layers = (self.layer,) if self.layer is not None else ()
        self.model.check(model, layers=layers, strict=strict, what=f"probe ({self.hook})")
        if hook is not None:
            asked = parse_hook(hook, ModelRef.of(model).n_layers).name
            if asked != self.hook:
                raise InterpError(
                    f"the probe was fitted at {self.hook} but is being applied at {asked}",
                    fix=f"read activations at {self.hook}, or fit a probe at {asked}",
                )

    # ---- files -----------------------------------------------------------------------------
    def _metadata(self) -> dict[str, str]:
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "hook": self.hook or "",
            "hooks": json.dumps([self.hook]),
            "layer": json.dumps(self.layer),
            "method": self.method,
            "C": json.dumps(self.C),
            **(self.model.to_metadata() if self.model else {}),
            "threshold": json.dumps(self.threshold),
            "threshold_fpr": json.dumps(self.threshold_fpr),
            "n_control": str(self.n_control),
            "dataset_hash": self.dataset_hash,
            "n_items": str(self.n_prompts),
            "n_rows": str(self.n_rows),
            "n_positive": str(self.n_positive),
            "n_negative": str(self.n_negative),
            "warning": self.warning,
            "interp_version": self.interp_version,
        }

    def save(self, path: str | Path) -> Path:
        """Write the probe as one safetensors file (atomically); returns the path.

        Refuses a probe fitted without `model=` and `hook=`: the file must say what it applies to.

        >>> probe.save("runs/audit/probe.safetensors")   # doctest: +SKIP
        """
        if self.model is None or self.hook is None:
            raise InterpError(
                "cannot save a probe that records no model or hook",
                fix="fit it with model=... and hook=..., or replace(probe, model=ModelRef(...), hook=...)",
            )
        tensors = {
            "weight": self.weight.to(torch.float64),
            "bias": torch.tensor([self.bias], dtype=torch.float64),
            "mean": self.standardizer.mean.to(torch.float64),
            "std": self.standardizer.std.to(torch.float64),
        }
        return write_artifact(path, tensors, self._metadata())

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        model: ModelLike | ModelRef | None = None,
        hook: str | None = None,
        strict: bool = True,
    ) -> LinearProbe:
        """Read a probe saved by `save`; with `model`, also `check_model(model, hook, strict=strict)`.

        >>> probe = LinearProbe.load("probe.safetensors", model=model, hook="blocks.3.hook_resid_post")  # doctest: +SKIP
        """
        path = Path(path)
        tensors, meta = read_artifact(path, KIND, "probe")

        def optional_float(key: str) -> float | None:
            value = meta_json(meta, key, path)
            return None if value is None else float(value)

        loaded = cls(
            weight=tensor_named(tensors, "weight", path),
            standardizer=Standardizer(
                tensor_named(tensors, "mean", path), tensor_named(tensors, "std", path)
            ),
            bias=float(tensor_named(tensors, "bias", path)[0]),
            hook=meta_str(meta, "hook", path),
            model=ModelRef.from_metadata(meta, path),
            method=meta_str(meta, "method", path),
            C=optional_float("C"),
            threshold=optional_float("threshold"),
            threshold_fpr=optional_float("threshold_fpr"),
            n_control=int(meta_json(meta, "n_control", path)),
            dataset_hash=meta_str(meta, "dataset_hash", path),
            n_prompts=int(meta_json(meta, "n_items", path)),
            n_rows=int(meta_json(meta, "n_rows", path)),
            n_positive=int(meta_json(meta, "n_positive", path)),
            n_negative=int(meta_json(meta, "n_negative", path)),
            warning=meta.get("warning", ""),  # files written before warnings existed have none
            interp_version=meta_str(meta, "interp_version", path),
        )
        if model is not None:
            loaded.check_model(model, hook, strict=strict)
        return loaded

    def __eq__(self, other: object) -> bool:
        """Exact equality: same metadata and the same numbers."""
        if not isinstance(other, LinearProbe):
            return NotImplemented
        mine = (self.weight, self.standardizer.mean, self.standardizer.std)
        theirs = (other.weight, other.standardizer.mean, other.standardizer.std)
        return (
            self._metadata() == other._metadata()
            and self.bias == other.bias
            and all(
                a.dtype == b.dtype and torch.equal(a, b) for a, b in zip(mine, theirs, strict=True)
            )
        )

    __hash__ = None  # type: ignore[assignment]  # holds tensors: not hashable

    def __repr__(self) -> str:
        model = self.model.spec if self.model else None
        return (
            f"LinearProbe(hook={self.hook!r}, method={self.method!r}, d_model={self.d_model}, "
            f"threshold={self.threshold}, model={model!r}, n_prompts={self.n_prompts})"
        )
