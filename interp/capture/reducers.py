"""Reducers: what capture does with the activations it reads, one batch at a time.

`Keep` hands the selected rows to memory or to the on-disk store. The streaming reducers (`Mean`,
`LabelMeans`, `Moments`) keep fixed-size running sums, so their memory does not grow with the number
of prompts. Per-batch sums come from the fused capture kernel (Triton on CUDA, torch elsewhere) in
float32 and are accumulated across batches in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.capture.batching import Batch
from interp.kernels import capture_reduce


class Reducer:
    """Base: `begin_batch` once per batch, `update` once per hook, `end_batch`, then `result()`."""

    def begin_batch(self, batch: Batch, labels: Tensor) -> None:
        self.batch, self.labels = batch, labels

    def update(self, hook: str, h: Float[Tensor, "batch pos d_model"]) -> None:
        raise NotImplementedError

    def end_batch(self) -> None:
        pass

    def result(self) -> object:
        raise NotImplementedError


class Keep(Reducer):
    """Keep every selected row: in memory, or appended to an `ActivationWriter` when given one."""

    def __init__(self, writer=None, dtype: torch.dtype | None = None) -> None:
        self.writer, self.dtype = writer, dtype
        self.rows: dict[str, list[Tensor]] = {}
        self.prompt_index: list[Tensor] = []
        self.position: list[Tensor] = []
        self._batch_rows: dict[str, Tensor] = {}

    def update(self, hook: str, h: Tensor) -> None:
        rows = h[self.batch.select.to(h.device)].detach()  # (rows, D), row-major over (batch, pos)
        self._batch_rows[hook] = rows.to("cpu", self.dtype or rows.dtype)

    def end_batch(self) -> None:
        select = self.batch.select
        prompt_index = self.batch.prompt_index[:, None].expand_as(select)[select]
        position = self.batch.token_index[select]
        if self.writer is not None:
            self.writer.add(
                prompt_index, position, self._batch_rows, prompts=self.batch.prompt_index
            )
        else:
            for hook, rows in self._batch_rows.items():
                self.rows.setdefault(hook, []).append(rows)
            self.prompt_index.append(prompt_index)
            self.position.append(position)
        self._batch_rows = {}

    def result(self) -> dict[str, Tensor]:
        return {hook: torch.cat(parts) for hook, parts in self.rows.items()}


@dataclass
class LabelStats:
    sums: Float[Tensor, "labels d_model"]  # float64
    counts: Float[Tensor, " labels"]

    @property
    def means(self) -> Float[Tensor, "labels d_model"]:
        return (self.sums / self.counts.clamp(min=1)[:, None]).float()


class LabelMeans(Reducer):
    """Per-label mean of the selected rows (labels are per item), e.g. for contrast directions."""

    def __init__(self, n_labels: int) -> None:
        self.n_labels = n_labels
        self.stats: dict[str, LabelStats] = {}

    def update(self, hook: str, h: Tensor) -> None:
        sums = capture_reduce(
            h, self.batch.select.to(h.device), self.labels.to(h.device), self.n_labels
        )
        stats = self.stats.get(hook)
        if stats is None:
            d = h.shape[-1]
            stats = self.stats[hook] = LabelStats(
                torch.zeros(self.n_labels, d, dtype=torch.float64),
                torch.zeros(self.n_labels, dtype=torch.float64),
            )
        stats.sums += sums.sums.to("cpu", torch.float64)
        stats.counts += sums.counts.to("cpu", torch.float64)

    def result(self) -> dict[str, LabelStats]:
        return self.stats


class Mean(LabelMeans):
    """Mean of all selected rows: `LabelMeans` with every item in one label."""

    def __init__(self) -> None:
        super().__init__(n_labels=1)

    def begin_batch(self, batch: Batch, labels: Tensor) -> None:
        super().begin_batch(batch, torch.zeros_like(labels))

    def result(self) -> dict[str, Tensor]:  # type: ignore[override]
        return {hook: stats.means[0] for hook, stats in self.stats.items()}


@dataclass
class MomentStats:
    count: float
    sum: Float[Tensor, " d_model"]  # float64
    sum_outer: Float[Tensor, "d_model d_model"]  # float64

    @property
    def mean(self) -> Tensor:
        return self.sum / max(self.count, 1.0)

    @property
    def covariance(self) -> Tensor:
        """Unbiased covariance of the selected rows."""
        mean = self.mean
        return (self.sum_outer - self.count * torch.outer(mean, mean)) / max(self.count - 1.0, 1.0)


class Moments(Reducer):
    """Streaming first and second moments (mean and covariance), memory O(d_model^2)."""

    def __init__(self) -> None:
        self.stats: dict[str, MomentStats] = {}

    def update(self, hook: str, h: Tensor) -> None:
        rows = h[self.batch.select.to(h.device)].float()  # (rows, D)
        stats = self.stats.get(hook)
        if stats is None:
            d = h.shape[-1]
            stats = self.stats[hook] = MomentStats(
                0.0, torch.zeros(d, dtype=torch.float64), torch.zeros(d, d, dtype=torch.float64)
            )
        stats.count += rows.shape[0]
        stats.sum += rows.sum(0).to("cpu", torch.float64)
        stats.sum_outer += (rows.T @ rows).to("cpu", torch.float64)

    def result(self) -> dict[str, MomentStats]:
        return self.stats
