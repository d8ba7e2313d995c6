"""Reducers: what capture does with the activations it reads, one batch at a time.

`Keep` hands the selected rows to memory or to the on-disk store. The streaming reducers (`Mean`,
`LabelMeans`, `Moments`) keep fixed-size running sums, so their memory does not grow with the number
of prompts. Per-batch sums come from the fused capture kernel (Triton on CUDA, torch elsewhere) in
float32 and are accumulated across batches in float64. `Scores` scores the selected rows with a
bank of probes where they are, before anything moves to the host.

Hook calls never wait on the device: the batch's selection goes to the device once per batch (as
row indices, so no boolean indexing, whose output size the host would have to read back), the
running sums stay on the device, and rows and scores move to the host once per batch
(`end_batch`), after the forward pass, or at `result()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.capture.batching import Batch
from interp.kernels import capture_reduce
from interp.probes.scoring import ProbeBank


@dataclass(frozen=True)
class BatchOnDevice:
    """One batch's selection and labels on one device, made once per batch and device."""

    select: Tensor  # (batch, pos) bool
    rows: Tensor  # (n_selected,) int64 flat indices into (batch * pos), row-major
    labels: Tensor  # (batch,) int64


class Reducer:
    """Base: `begin_batch` once per batch, `update` once per hook, `end_batch`, then `result()`."""

    def begin_batch(self, batch: Batch, labels: Tensor) -> None:
        self.batch, self.labels = batch, labels
        self._on_device: dict[torch.device, BatchOnDevice] = {}
        # Host-side (the batch is built on the host): no device read-back to count the rows.
        self._rows = batch.select.reshape(-1).nonzero().reshape(-1)
        self.n_selected = int(self._rows.numel())

    def on(self, device: torch.device) -> BatchOnDevice:
        """The batch's selection and labels on `device`, copied there once per batch."""
        found = self._on_device.get(device)
        if found is None:
            found = self._on_device[device] = BatchOnDevice(
                self.batch.select.to(device),
                self._rows.to(device),
                self.labels.to(device, torch.long),
            )
        return found

    def selected_rows(self, h: Tensor) -> Tensor:
        """The selected rows of h (batch, pos, d) as (n_selected, d), row-major over (batch,
        pos): a gather by precomputed indices, no host sync."""
        return h.reshape(-1, h.shape[-1]).index_select(0, self.on(h.device).rows)

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
        # (rows, D), row-major over (batch, pos); stays on the device until the batch ends
        self._batch_rows[hook] = self.selected_rows(h.detach())

    def end_batch(self) -> None:
        self._batch_rows = _to_host(self._batch_rows, self.dtype)
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
        batch = self.on(h.device)
        sums = capture_reduce(h, batch.select, batch.labels, self.n_labels)
        stats = self.stats.get(hook)
        if stats is None:  # running sums on h's device, moved to the host by `result`
            d = h.shape[-1]
            stats = self.stats[hook] = LabelStats(
                torch.zeros(self.n_labels, d, dtype=torch.float64, device=h.device),
                torch.zeros(self.n_labels, dtype=torch.float64, device=h.device),
            )
        stats.sums += sums.sums
        stats.counts += sums.counts

    def result(self) -> dict[str, LabelStats]:
        """The sums and counts per hook, on the host."""
        return {
            hook: LabelStats(stats.sums.cpu(), stats.counts.cpu())
            for hook, stats in self.stats.items()
        }


class Mean(LabelMeans):
    """Mean of all selected rows: `LabelMeans` with every item in one label."""

    def __init__(self) -> None:
        super().__init__(n_labels=1)

    def begin_batch(self, batch: Batch, labels: Tensor) -> None:
        super().begin_batch(batch, torch.zeros_like(labels))

    def result(self) -> dict[str, Tensor]:  # type: ignore[override]
        return {hook: stats.means[0] for hook, stats in super().result().items()}


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
        rows = self.selected_rows(h).float()  # (rows, D)
        stats = self.stats.get(hook)
        if stats is None:  # running sums on h's device, moved to the host by `result`
            d, device = h.shape[-1], h.device
            stats = self.stats[hook] = MomentStats(
                0.0,
                torch.zeros(d, dtype=torch.float64, device=device),
                torch.zeros(d, d, dtype=torch.float64, device=device),
            )
        stats.count += self.n_selected  # known on the host: the batch's selection is built there
        stats.sum += rows.sum(0)
        stats.sum_outer += rows.T @ rows

    def result(self) -> dict[str, MomentStats]:
        """The moments per hook, on the host."""
        return {
            hook: MomentStats(stats.count, stats.sum.cpu(), stats.sum_outer.cpu())
            for hook, stats in self.stats.items()
        }


class Scores(Reducer):
    """Every selected row scored by a bank of probes where the activations are (the projection
    kernel on CUDA), so only (rows, k) scores ever move to the host, once per batch.

    `banks` maps hook names to the `ProbeBank` scored there; hooks without a bank are ignored.
    `result()` is hook -> (rows, k) float32 scores, rows in the same order as `Keep`'s, with
    `prompt_index` and `position` per row.
    """

    def __init__(self, banks: dict[str, ProbeBank]) -> None:
        self.banks = banks
        self.scores: dict[str, list[Tensor]] = {}
        self.prompt_index: list[Tensor] = []
        self.position: list[Tensor] = []
        self._batch_scores: dict[str, Tensor] = {}

    def update(self, hook: str, h: Tensor) -> None:
        bank = self.banks.get(hook)
        if bank is not None:
            self._batch_scores[hook] = bank.score(self.selected_rows(h.detach()))  # (rows, k)

    def end_batch(self) -> None:
        for hook, scores in _to_host(self._batch_scores, None).items():
            self.scores.setdefault(hook, []).append(scores)
        select = self.batch.select
        self.prompt_index.append(self.batch.prompt_index[:, None].expand_as(select)[select])
        self.position.append(self.batch.token_index[select])
        self._batch_scores = {}

    def result(self) -> dict[str, Tensor]:
        return {hook: torch.cat(parts) for hook, parts in self.scores.items()}


def _to_host(tensors: dict[str, Tensor], dtype: torch.dtype | None) -> dict[str, Tensor]:
    """Move a batch's tensors to the host in one copy where they can share one (same device,
    dtype and width), then cast to `dtype` there."""
    if not tensors:
        return {}
    parts = list(tensors.values())
    first = parts[0]
    same = all(
        p.device == first.device and p.dtype == first.dtype and p.shape[1:] == first.shape[1:]
        for p in parts
    )
    if same and first.device.type != "cpu":
        moved = torch.cat(parts).cpu().split([p.shape[0] for p in parts])
    else:
        moved = tuple(p.cpu() for p in parts)
    return {hook: part.to(dtype or part.dtype) for hook, part in zip(tensors, moved, strict=True)}
