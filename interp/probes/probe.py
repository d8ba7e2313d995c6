"""`LinearProbe`: a fitted linear read-out of one hook point, its fitters, and batched scoring.

A probe scores a token's activation x (width d_model) as

    score(x) = ((x - mean) / std) . w + b  =  x . w_raw + b_raw,    w_raw = w / std,
                                                                    b_raw = b - mean . w_raw

and a response as the mean of its tokens' scores (methods.md section 2). Two fitters share one
signature; both take token rows, one label per prompt and each row's prompt id:

    probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model, hook=hook)
    base = fit_mass_mean_probe(rows, labels, prompt_index, model=model, hook=hook)
    per_response = probe.score_responses(rows, prompt_index)       # (n_prompts,)
    probe.save("probe.safetensors")
    probe = LinearProbe.load("probe.safetensors", model=model, hook=hook)   # refuses a mismatch
    scores = score_many(acts, [probe_a, probe_b])                  # (..., 2), one matmul
    bank = ProbeBank(probes)                                       # stack once, score many times
    scores = bank.score(acts)                                      # (..., k), no restacking

Labels are indexed by prompt id (`labels[prompt_index[i]]` is row i's label), matching
`capture(...).prompt_index`; without `prompt_index` every row is its own prompt.

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

from interp.directions.direction_set import (
    ModelLike,
    ModelRef,
    meta_json,
    meta_str,
    read_artifact,
    tensor_named,
    write_artifact,
)
from interp.errors import InterpError
from interp.hooks.names import parse_hook
from interp.probes.logistic import Solver, Standardizer, fit_logistic_regression

KIND = "probe"
FORMAT_VERSION = "1"
METHODS = ("logistic", "mass_mean")
_LAYER = re.compile(r"^blocks\.(-?\d+)\.")


def _library_version() -> str:
    from interp.store.provenance import library_version

    return library_version()


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
    interp_version: str = field(default_factory=_library_version)

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
        if self.model is not None and self.model.d_model != w.shape[0]:
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


# ---- fitters ----------------------------------------------------------------------------------


def fit_logistic_probe(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"] | None = None,
    C: float = 0.1,
    *,
    fit_intercept: bool = False,
    model: ModelLike | ModelRef | None = None,
    hook: str | None = None,
    dataset_hash: str = "",
    solver: Solver = "auto",
) -> LinearProbe:
    """Logistic regression on standardized token rows (Apollo's recipe: strong L2, no intercept).

    Standardizer fitted on `acts`; then `w = argmin 0.5 |w|^2 + C sum_rows logloss(y, x' . w)`
    (see `fit_logistic_regression`). `labels[groups[i]]` is row i's label (0 honest, 1 positive).

    >>> probe = fit_logistic_probe(rows, labels, prompt_index, C=0.1, model=model,   # doctest: +SKIP
    ...                            hook="blocks.3.hook_resid_post", dataset_hash=h)
    """
    rows, y, groups = _rows_and_labels(acts, labels, groups)
    scaler = Standardizer.fit(rows)
    fit = fit_logistic_regression(scaler(rows), y, C=C, fit_intercept=fit_intercept, solver=solver)
    return _make_probe(
        fit.weight, fit.bias, scaler, "logistic", C, rows, labels, groups, model, hook, dataset_hash
    )


def fit_mass_mean_probe(
    acts: Float[Tensor, "rows d_model"],
    labels: Tensor,
    groups: Int[Tensor, " rows"] | None = None,
    *,
    model: ModelLike | ModelRef | None = None,
    hook: str | None = None,
    dataset_hash: str = "",
) -> LinearProbe:
    """The baseline probe: the difference of class means, `w_raw = mu_1 - mu_0` over token rows.

    The bias puts the midpoint of the two class means at score 0:
    `b_raw = -w_raw . (mu_1 + mu_0) / 2`. Stored like any probe (standardized weight `w_raw * std`),
    so scoring, files and `score_many` treat both methods alike.

    >>> base = fit_mass_mean_probe(rows, labels, prompt_index, model=model, hook=hook)   # doctest: +SKIP
    """
    rows, y, groups = _rows_and_labels(acts, labels, groups)
    x = rows.detach().to("cpu", torch.float64)
    mu1, mu0 = x[y == 1].mean(dim=0), x[y == 0].mean(dim=0)
    raw = mu1 - mu0
    scaler = Standardizer.fit(x)
    weight, bias = scaler.unfold(raw, -float(raw @ (mu1 + mu0)) / 2)
    return _make_probe(
        weight, bias, scaler, "mass_mean", None, rows, labels, groups, model, hook, dataset_hash
    )


def _rows_and_labels(
    acts: Tensor, labels: Tensor, groups: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Check shapes; return rows, each row's 0/1 label, and each row's prompt id."""
    if not isinstance(acts, Tensor) or acts.ndim != 2:
        raise InterpError(
            f"probe activations must be a 2-D (rows, d_model) tensor, got "
            f"{tuple(acts.shape) if isinstance(acts, Tensor) else type(acts).__name__}",
            fix="pass token rows with their prompt ids (capture(...).activations[hook], .prompt_index)",
        )
    labels = torch.as_tensor(labels).detach().cpu().reshape(-1)
    n = acts.shape[0]
    if groups is None:
        groups = torch.arange(n)
    groups = torch.as_tensor(groups).detach().cpu().reshape(-1).long()
    if groups.shape[0] != n:
        raise InterpError(
            f"{n} activation rows but {groups.shape[0]} prompt ids",
            fix="give one prompt id per row",
        )
    if n and (int(groups.min()) < 0 or int(groups.max()) >= labels.shape[0]):
        raise InterpError(
            f"prompt ids run to {int(groups.max())} but there are {labels.shape[0]} labels",
            fix="give one label per prompt, indexed by prompt id (labels[prompt_index])",
        )
    y = labels[groups].long()
    if not bool(((y == 0) | (y == 1)).all()):
        raise InterpError("probe labels must be 0 or 1", fix="encode the positive class as 1")
    if y.unique().numel() < 2:
        raise InterpError(
            "probe training rows are all of one class", fix="include prompts labelled 0 and 1"
        )
    return acts, y, groups


def _make_probe(
    weight: Tensor,
    bias: float,
    scaler: Standardizer,
    method: str,
    C: float | None,
    rows: Tensor,
    labels: Tensor,
    groups: Tensor,
    model: ModelLike | ModelRef | None,
    hook: str | None,
    dataset_hash: str,
) -> LinearProbe:
    prompts = groups.unique()
    prompt_labels = torch.as_tensor(labels).reshape(-1)[prompts].long()
    return LinearProbe(
        weight=weight.to(torch.float64),
        standardizer=scaler,
        bias=bias,
        hook=hook,
        model=ModelRef.of(model) if model is not None else None,
        method=method,
        C=C,
        dataset_hash=dataset_hash,
        n_prompts=int(prompts.numel()),
        n_rows=int(rows.shape[0]),
        n_positive=int((prompt_labels == 1).sum()),
        n_negative=int((prompt_labels == 0).sum()),
    )


# ---- scoring many probes at once ---------------------------------------------------------------


def mean_per_prompt(
    values: Float[Tensor, " rows"], prompt_index: Int[Tensor, " rows"], n_prompts: int | None = None
) -> Float[Tensor, " prompts"]:
    """`out[p] = mean of values[i] over rows i with prompt_index[i] == p`; NaN where p has no rows.

    >>> mean_per_prompt(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 2]))
    tensor([2., nan, 5.])
    """
    index = torch.as_tensor(prompt_index, device=values.device).reshape(-1).long()
    if index.shape[0] != values.shape[0]:
        raise InterpError(
            f"{values.shape[0]} rows but {index.shape[0]} prompt ids", fix="give one id per row"
        )
    if n_prompts is None:
        n_prompts = int(index.max()) + 1 if index.numel() else 0
    sums = torch.zeros(n_prompts, dtype=values.dtype, device=values.device)
    sums.index_add_(0, index, values)
    counts = torch.zeros(n_prompts, dtype=values.dtype, device=values.device)
    counts.index_add_(0, index, torch.ones_like(values))
    return sums / counts  # 0 / 0 = NaN marks a prompt with no rows


def stack_probes(
    probes: Sequence[LinearProbe],
) -> tuple[Float[Tensor, "d_model k"], Float[Tensor, " k"]]:
    """Every probe's raw-space weight as one column of V, and its bias (float64)."""
    if not probes:
        raise InterpError("no probes to score", fix="pass at least one probe")
    widths = {p.d_model for p in probes}
    if len(widths) > 1:
        raise InterpError(
            f"probes of different widths {sorted(widths)} cannot share one matmul",
            fix="score probes of each model separately",
        )
    folded = [p.effective_weight() for p in probes]
    V = torch.stack([w for w, _ in folded], dim=1)  # (d, k)
    bias = torch.tensor([b for _, b in folded], dtype=torch.float64)  # (k,)
    return V, bias


class ProbeBank:
    """Probes of one width stacked once, for scoring the same bank on many batches.

    Holds `V` (d_model, k), every probe's raw-space weight `w_raw` as one column, and `bias` (k,),
    both float64, built once with `stack_probes`; copies in float32 (float64 for float64 input) are
    made on first use on each device and kept. `score` is `score_many` without the restacking:
    the same `_project` call, so it reads the activations once for all k probes.

    >>> bank = ProbeBank([LinearProbe(torch.ones(4), Standardizer.identity(4))] * 3)
    >>> bank.score(torch.ones(2, 5, 4)).shape
    torch.Size([2, 5, 3])
    """

    __slots__ = ("_bias", "_cache", "_probes", "_V")

    def __init__(self, probes: Sequence[LinearProbe]) -> None:
        probes = tuple(probes)
        V, bias = stack_probes(probes)  # refuses no probes and mixed widths
        self._probes = probes
        self._V = V
        self._bias = bias
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    @property
    def probes(self) -> tuple[LinearProbe, ...]:
        """The probes, in column order."""
        return self._probes

    @property
    def V(self) -> Float[Tensor, "d_model k"]:
        """The stacked raw-space weights (float64, where the probes' weights are); read-only."""
        return self._V

    @property
    def bias(self) -> Float[Tensor, " k"]:
        """The raw-space biases (float64, on the CPU); read-only."""
        return self._bias

    @property
    def d_model(self) -> int:
        return int(self._V.shape[0])

    @property
    def k(self) -> int:
        return int(self._V.shape[1])

    def __len__(self) -> int:
        return self.k

    def weights(
        self, device: torch.device | str, dtype: torch.dtype = torch.float32
    ) -> tuple[Float[Tensor, "d_model k"], Float[Tensor, " k"]]:
        """(V, bias) in `dtype` on `device`, made once per (device, dtype) and then reused."""
        device = torch.device(device)
        key = (device, dtype)
        if key not in self._cache:
            # Normal tensors even when first made under inference_mode, so that scoring later
            # with autograd on can still use them. (`.to` returns V itself where nothing changes.)
            with torch.inference_mode(False), torch.no_grad():
                self._cache[key] = (
                    self._V.to(device, dtype).contiguous(),
                    self._bias.to(device, dtype).contiguous(),
                )
        return self._cache[key]

    def score(self, acts: Float[Tensor, "*batch d_model"]) -> Float[Tensor, "*batch k"]:
        """Every probe's score of every token: `acts @ V + bias`, shape (..., k).

        float32 (from float32, float16 or bfloat16 input), float64 for float64 input (exact).
        """
        _check_width(acts, self.d_model)
        exact = acts.dtype == torch.float64
        V, bias = self.weights(acts.device, torch.float64 if exact else torch.float32)
        return _project(acts, V, bias)

    def __repr__(self) -> str:
        hooks = sorted({p.hook for p in self._probes if p.hook is not None})
        return f"ProbeBank(k={self.k}, d_model={self.d_model}, hooks={hooks})"


def score_many(
    acts: Float[Tensor, "*batch d_model"], probes: Sequence[LinearProbe] | ProbeBank
) -> Float[Tensor, "*batch k"]:
    """All probes' token scores at once: `acts @ V + bias` with V the (d_model, k) stack of w_raw.

    Standardization is folded into V and bias, so this reads `acts` once, as the projection
    kernel does. Computes in float32 (float64 when `acts` is float64). `probes` is a list of
    probes (stacked on every call) or a `ProbeBank` (stacked once, when it was built).

    >>> scores = score_many(acts, [probe_a, probe_b])   # (..., 2)   # doctest: +SKIP
    """
    bank = probes if isinstance(probes, ProbeBank) else ProbeBank(probes)
    return bank.score(acts)


def _check_width(acts: Tensor, d: int) -> None:
    if acts.shape[-1] != d:
        raise InterpError(
            f"activations are {acts.shape[-1]} wide but the probe expects d_model {d}",
            fix="score activations of the model (and hook) the probe was fitted on",
        )


def _project(
    h: Float[Tensor, "*batch d"], V: Float[Tensor, "d k"], bias: Float[Tensor, " k"]
) -> Float[Tensor, "*batch k"]:
    """scores = h @ V + bias: the one place the projection kernel plugs in.

    float64 input stays on this exact torch path (analysis, tests); everything else is float32,
    which is what `interp.kernels.project(h, V, bias, scale)` computes.
    """
    if h.dtype == torch.float64:
        return h @ V.to(h.device) + bias.to(h.device)  # (..., k)
    # Imported here: the kernels package pulls in triton where present, which plain probe use
    # (fitting, float64 analysis) never needs.
    from interp.kernels import project

    # One pass over h for all k probes: Triton on CUDA, the float32 torch reference elsewhere.
    return project(h, V.to(h.device, torch.float32), bias.to(h.device, torch.float32))  # (..., k)
