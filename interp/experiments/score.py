"""`interp score` as a function: a saved probe applied to a model's prompts or transcripts.

    probe = LinearProbe.load("runs/audit/probe.safetensors")
    scored = score_probe(model, probe, transcripts)        # checked against the model first
    scored.scores                    # (items,): each item's mean token score, NaN with no tokens
    scored.flag_share, scored.flag_share_ci95              # with a calibrated threshold

Each item scores the mean of the probe over its scored tokens (the per-response score a probe is
calibrated on); with a threshold, the share of items above it comes with a 95% Wilson interval, and
the mean score with a bootstrap one. The probe must fit the model: same width, enough layers and,
unless `any_config`, the configuration it was fitted on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from torch import Tensor

from interp.capture.batching import Positions
from interp.capture.items import Item, as_items
from interp.capture.run import capture
from interp.errors import InterpError
from interp.models.model import Model
from interp.probes import LinearProbe, ProbeBank, bootstrap_ci, mean_per_prompt, share_interval

POSITIONS = ("auto", "all", "last", "response")


@dataclass(frozen=True)
class ProbeScores:
    """Per-item scores of one probe on one model's items, and what they add up to."""

    scores: Tensor  # (items,) float32; NaN where an item had no token to score
    hook: str
    positions: str
    threshold: float | None
    threshold_fpr: float | None
    mean_score: float | None  # over the scored items
    mean_score_ci95: tuple[float, float] | None
    flag_share: float | None  # share of scored items above the threshold
    flag_share_ci95: tuple[float, float] | None

    @property
    def n_items(self) -> int:
        return int(self.scores.numel())

    @property
    def n_scored(self) -> int:
        return int((~self.scores.isnan()).sum())

    @property
    def flagged(self) -> list[bool | None]:
        """Per item: above the threshold (None where unscored, or with no threshold)."""
        if self.threshold is None:
            return [None] * self.n_items
        return [None if s != s else bool(s > self.threshold) for s in self.scores.tolist()]

    def summary(self) -> dict[str, Any]:
        """What `interp score --json` prints (before the file names)."""
        return {
            "hook": self.hook,
            "positions": self.positions,
            "n_items": self.n_items,
            "n_scored": self.n_scored,
            "n_empty": self.n_items - self.n_scored,
            "threshold": self.threshold,
            "threshold_fpr": self.threshold_fpr,
            "mean_score": self.mean_score,
            "mean_score_ci95": list(self.mean_score_ci95) if self.mean_score_ci95 else None,
            "flag_share": self.flag_share,
            "flag_share_ci95": list(self.flag_share_ci95) if self.flag_share_ci95 else None,
        }


def score_positions(asked: str, items: Sequence[Item]) -> Positions:
    """The token positions to score: `auto` is the response tokens when every item has a response,
    else all tokens; `response` is refused when some item has none."""
    if asked not in POSITIONS:
        raise InterpError(f"unknown positions {asked!r}", fix=f"use one of {', '.join(POSITIONS)}")
    with_response = sum(item.has_response for item in items)
    if asked == "auto":
        return "response" if with_response == len(items) else "all"
    if asked == "response" and with_response < len(items):
        raise InterpError(
            f"--positions response needs a response for every item, but "
            f"{len(items) - with_response} of {len(items)} have none",
            fix='write {"prompt", "response"} records, or score --positions all or last',
        )
    return cast(Positions, asked)


def check_probe(probe: LinearProbe, model: Model, any_config: bool) -> None:
    """Refuse a probe of another width or depth, or (unless `any_config`) another configuration."""
    try:
        probe.check_model(model, strict=not any_config)
    except InterpError as err:
        fix = err.fix
        if not any_config and "config hash" in err.problem:
            fix = "score the model it was fitted on, or add --any-config for a fine-tuned sibling"
        raise InterpError(err.problem, fix=fix) from err


def score_probe(
    model: Model,
    probe: LinearProbe,
    items: Sequence[str | Item | dict],
    *,
    positions: str = "auto",
    any_config: bool = False,
    batch_size: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> ProbeScores:
    """Score every item with `probe` at its hook, after checking the probe against the model.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> data = [{"prompt": "Q:1+2=?", "label": 1}, {"prompt": "Q:2+2=?", "label": 0}] * 4
    >>> probe = interp.fit_probe(model, data, layer=1)
    >>> scored = interp.score_probe(model, probe, ["Q:3+4=?", "Q:5+6=?"], positions="last")
    >>> scored.scores.shape, scored.n_scored, scored.flag_share
    (torch.Size([2]), 2, None)
    """
    items = as_items(items)
    chosen = score_positions(positions, items)
    check_probe(probe, model, any_config)
    hook = str(probe.hook)  # a probe fitted or loaded by interp always names its hook
    # Token scores made where the activations are (the projection kernel on CUDA): only the
    # scores move to the host, never the rows.
    got = capture(
        model,
        items,
        hook,
        positions=chosen,
        reduce=[],
        batch_size=batch_size,
        progress=progress,
        probes={hook: ProbeBank([probe])},
    )
    assert got.prompt_index is not None
    (token_scores,) = got.scores.values()
    scores = mean_per_prompt(token_scores[:, 0], got.prompt_index, len(items))
    return summarize(probe, scores.float(), chosen, n_boot=n_boot, seed=seed)


def summarize(
    probe: LinearProbe, scores: Tensor, positions: str, *, n_boot: int = 1000, seed: int = 0
) -> ProbeScores:
    """Mean score and, with a threshold, the share of items above it, each with a 95% interval."""
    kept = scores[~scores.isnan()]
    mean = mean_ci = share = share_ci = None
    if kept.numel():
        interval = bootstrap_ci(lambda s: float(s.mean()), kept, n=n_boot, seed=seed)
        mean, mean_ci = float(kept.mean()), (interval.low, interval.high)
        if probe.threshold is not None:
            flagged = probe.flag(kept)
            above = share_interval(int(flagged.sum()), int(flagged.numel()))
            share, share_ci = above.value, (above.low, above.high)
    return ProbeScores(
        scores,
        str(probe.hook),
        positions,
        probe.threshold,
        probe.threshold_fpr,
        mean,
        mean_ci,
        share,
        share_ci,
    )


def write_scores(path: str | Path, items: Sequence[Item], scored: ProbeScores) -> Path:
    """One JSON line per item: its prompt (or messages) and response, score, and flag."""
    from interp.files import atomic_write_text

    lines = []
    for item, score, flag in zip(items, scored.scores.tolist(), scored.flagged, strict=True):
        record: dict[str, Any] = {
            k: v for k, v in item.to_json().items() if k in ("prompt", "messages", "response")
        }
        record["score"] = None if score != score else score
        if scored.threshold is not None:
            record["flagged"] = flag
        lines.append(json.dumps(record))
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
    return Path(path)
