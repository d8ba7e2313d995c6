"""The probe sweep's table and report.md, from its metrics (`interp.experiments.probe_sweep`)."""

from __future__ import annotations

import json
from typing import Any


def format_table(metrics: dict[str, Any]) -> str:
    """The per-layer table as Markdown: each AUROC beside the control it must beat."""
    lines = [
        "| layer | logistic AUROC [95% CI] | null p95 (p) | mass-mean AUROC [95% CI] | null p95 (p) "
        "| norm AUROC [95% CI] | beats null / norm |",
        "| ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for r in metrics["layers"]:
        lines.append(
            f"| {r['layer']} | {r['auroc']:.3f} [{r['auroc_low']:.3f}, {r['auroc_high']:.3f}] "
            f"| {r['null_p95']:.3f} ({r['p_value']:.3f}) "
            f"| {r['mass_mean_auroc']:.3f} [{r['mass_mean_auroc_low']:.3f}, "
            f"{r['mass_mean_auroc_high']:.3f}] "
            f"| {r['mass_mean_null_p95']:.3f} ({r['mass_mean_p_value']:.3f}) "
            f"| {r['norm_auroc']:.3f} [{r['norm_auroc_low']:.3f}, {r['norm_auroc_high']:.3f}] "
            f"| {'yes' if r['beats_null'] else 'no'} / {'yes' if r['beats_norm'] else 'no'} |"
        )
    return "\n".join(lines)


def report(metrics: dict[str, Any]) -> str:
    """report.md: what was measured, the table, the best layer against its family-wise null."""
    c, b = metrics["config"], metrics["best"]
    unit = c.get("folds_by", "prompt")
    verdict = "lies above" if b["beats_null"] else "does not clear"
    return f"""# Linear probe sweep

Model `{c["model"]}`, hook `{c["hook_kind"]}` at every layer, {c["positions"]} tokens;
{c["n_prompts"]} prompts ({c["n_positive"]} labelled `{c["label_names"]["1"]}` = 1,
{c["n_negative"]} labelled `{c["label_names"]["0"]}` = 0). Logistic probe on standardized features
(C = {c["C"]}, no intercept) beside the difference-of-class-means baseline; {c["folds"]}-fold
cross-validation split by {unit}; a response scores the mean of its token scores; AUROC over
responses with a {c["n_boot"]}-resample bootstrap interval over {unit}s. Controls: the whole
cross-validation rerun with shuffled labels ({c["n_perm"]} permutations; 95th percentile and
one-sided p-value) and the AUROC of the activation norm alone (a probe must beat max(a, 1 - a)).

{format_table(metrics)}

**Best layer {b["layer"]}** (`{b["hook"]}`): logistic AUROC {b["auroc"]:.3f}
(95% CI {b["auroc_low"]:.3f} to {b["auroc_high"]:.3f}); its interval {verdict} the 95th
percentile of the best-of-{len(metrics["layers"])}-layers null, {b["null_max_p95"]:.3f}
(family-wise p = {b["p_value_family"]:.3f}). Mass-mean baseline {b["mass_mean_auroc"]:.3f};
activation norm alone {b["norm_auroc"]:.3f} (folded {b["norm_auroc_folded"]:.3f}).

The bootstrap interval holds the out-of-fold scores fixed, so it leaves out how the probe varies
with its training folds; the permutation null includes that, which is why both are reported.

![AUROC by layer](figures/probe_auroc_by_layer.png)

```json
{json.dumps(b, indent=2)}
```
"""
