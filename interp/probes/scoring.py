"""Scoring probes in bulk: many probes in one matmul, and token scores averaged per response.

    scores = score_many(acts, [probe_a, probe_b])                  # (..., 2), one matmul
    bank = ProbeBank(probes)                                       # stack once, score many times
    scores = bank.score(acts)                                      # (..., k), no restacking
    per_prompt = mean_per_prompt(token_scores, prompt_index)       # (n_prompts,)

Standardization is folded into the stacked weights, so activations are read once for all probes,
as the projection kernel (`interp.kernels.project`) does on CUDA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InterpError

if TYPE_CHECKING:  # probe.py scores through this module, so the class is only named here
    from interp.probes.probe import LinearProbe


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
