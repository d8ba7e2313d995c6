"""report.md of an `interp mcqa` study, and the lines the command prints, from its result alone."""

from __future__ import annotations

import json

from interp.results.mcqa import HeadAccuracy, MCQAResult
from interp.stats import Interval


def _ci(x: Interval, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(x.value)} [{f.format(x.low)}, {f.format(x.high)}]"


def summary_table(result: MCQAResult) -> str:
    """The chosen head against the logit baseline on the test questions, with the controls."""
    r = result
    return "\n".join(
        [
            "| readout | validation acc | test acc [95% CI] |",
            "| --- | ---: | --- |",
            f"| best head on validation: {r.chosen.name} | {r.chosen.validation:.3f} "
            f"| {_ci(r.head_test)} |",
            f"| logit baseline (letter with the highest logit) | {r.logit_validation:.3f} "
            f"| {_ci(r.logit_test)} |",
            f"| head - logits (paired, by question) | | {_ci(r.gain, signed=True)} |",
            f"| control: the average head ({r.chosen.score}) | | {r.mean_head_test:.3f} |",
            f"| control: chance | | {r.chance:.3f} |",
            f"| upper bound, not a result: best head on test, {r.oracle.name} "
            f"| {r.oracle.validation:.3f} | {r.oracle.test:.3f} |",
        ]
    )


def head_grid(result: MCQAResult, score: str, split: str = "test") -> str:
    """Accuracy of every head (rows: layers, columns: heads) for one score kind."""
    heads = [h for h in result.heads if h.score == score]
    n_heads = max(h.head for h in heads) + 1
    lines = [
        "| layer | " + " | ".join(f"H{i}" for i in range(n_heads)) + " |",
        "| ---: |" + " ---: |" * n_heads,
    ]
    for layer in sorted({h.layer for h in heads}):
        row = sorted((h for h in heads if h.layer == layer), key=lambda h: h.head)
        cells = [_cell(h, result.chosen, split) for h in row]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(h: HeadAccuracy, chosen: HeadAccuracy, split: str) -> str:
    text = f"{getattr(h, split):.2f}"
    return f"**{text}**" if h == chosen else text


def top_heads(result: MCQAResult, n: int = 10) -> str:
    ranked = sorted(result.heads, key=lambda h: -h.validation)[:n]
    lines = ["| head | score | validation acc | test acc |", "| --- | --- | ---: | ---: |"]
    lines += [
        f"| L{h.layer}H{h.head} | {h.score} | {h.validation:.3f} | {h.test:.3f} |" for h in ranked
    ]
    return "\n".join(lines)


def report(result: MCQAResult) -> str:
    r = result
    facts = ""
    if r.facts_known is not None and r.facts_checked is not None:
        facts = (
            f"Questions were made from facts the model completes correctly in free form: "
            f"{round(r.facts_known.value * r.facts_checked)} of {r.facts_checked} "
            f"({_ci(r.facts_known)}).\n\n"
        )
    verdict = (
        "The chosen head beats the logit baseline on the test questions (interval above zero)."
        if r.beats_logits()
        else "The chosen head does not beat the logit baseline with an interval above zero."
    )
    return "\n\n".join(
        [
            f"# Multiple choice by attention heads: {r.model}",
            f"{facts}{r.n_questions} questions ({r.source}), {r.n_items} prompts with every "
            f"rotation of the options; the head and score kind are chosen on "
            f"{r.n_validation} validation prompts and scored once on {r.n_test} test prompts "
            "(other questions). Intervals: 95% bootstrap over whole questions.",
            summary_table(r),
            verdict,
            "## Heads ranked on validation",
            top_heads(r),
            "## QK-score accuracy per head (test)",
            head_grid(r, "qk"),
            "## Attention-weight accuracy per head (test)",
            head_grid(r, "attention"),
            "## Config",
            "```json\n" + json.dumps(r.config, indent=2, sort_keys=True) + "\n```",
        ]
    )
