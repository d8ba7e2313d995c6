"""report.md of a probe-transfer study, and the tables the command prints, from its result alone."""

from __future__ import annotations

import json

from interp.results.probe_transfer import ModelProbes, ProbeTransferResult


def layer_table(m: ModelProbes) -> str:
    """One model's layers: cross-validation on training groups beside its controls, then held out."""
    lines = [
        "| layer | CV AUROC [95% CI] | null p95 (p) | mass-mean CV | norm CV "
        "| held-out AUROC [95% CI] | held-out norm |",
        "| ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for r in m.layers:
        mark = " *" if r.layer == m.best_layer else ""
        lines.append(
            f"| {r.layer}{mark} | {r.cv.text()} | {r.null_p95:.3f} ({r.p_value:.3f}) "
            f"| {r.mass_mean_cv:.3f} | {r.norm_cv:.3f} | {r.heldout.text()} | {r.heldout_norm:.3f} |"
        )
    return "\n".join(lines)


def transfer_table(result: ProbeTransferResult) -> str:
    """Each direction's carried probe beside what it must beat, on the target's held-out entities."""
    lines = [
        "| direction | layers (source -> target) | map | carried AUROC [95% CI] "
        "| target's own probe [95% CI] (layer) | carried - own [95% CI] "
        "| random maps mean / p95 | shuffled-label probes p95 | beats random / chance |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in result.transfers:
        lines.append(
            f"| {t.source} -> {t.target} | {t.source_layer} -> {t.target_layer} | {t.map} "
            f"| {t.carried.text()} | {t.own.text()} ({t.own_layer}) | "
            f"{t.carried_minus_own.value:+.3f} [{t.carried_minus_own.low:+.3f}, "
            f"{t.carried_minus_own.high:+.3f}] | {t.random_mean:.3f} / {t.random_p95:.3f} "
            f"| {t.shuffled_p95:.3f} | {'yes' if t.beats_random else 'no'} / "
            f"{'yes' if t.beats_chance else 'no'} |"
        )
    return "\n".join(lines)


def report(result: ProbeTransferResult) -> str:
    c, s = result.config, result.split
    false_name, true_name = s.label_names
    parts = [
        f"""# A probe carried across models

Statements from `{c["data"]}`: {s.n_train} for training ({s.n_train_entities} entities in
{s.n_train_groups} groups) and {s.n_test} held out ({s.n_test_entities} other entities in
{s.n_test_groups} groups; no entity on both sides). Class 1 is `{true_name}`, class 0
`{false_name}`. Every statement is read at its last token at `hook_{c["hook"]}`.

Per layer: a logistic probe (standardized, C = {c["C"]}, no intercept), {c["folds"]}-fold
cross-validated on the training statements with folds split by group, beside the mass-mean
baseline, a shuffled-label null ({c["n_perm"]} permutations: 95th percentile and p-value) and the
activation norm alone (larger = class 1). The same probe fitted on every training statement is
scored once on the held-out entities; intervals resample whole groups ({c["n_boot"]} resamples).
The layer marked * has the best cross-validated AUROC: it is chosen on training data only.
"""
    ]
    for m in result.models:
        parts.append(
            f"## {m.name} (`{m.spec}`, {m.n_layers} layers, width {m.d_model})\n\n"
            f"{layer_table(m)}\n\nChosen layer {m.best_layer}: cross-validated AUROC "
            f"{m.best.cv.text()} against a best-of-{len(m.layers)}-layers null of "
            f"{m.null_max_p95:.3f} (family-wise p = {m.p_value_family:.3f}); on held-out "
            f"entities {m.best.heldout.text()}.\n"
        )
    parts.append(
        f"""## Carried across models

The source's probe, at its chosen layer, is pulled back through a map from the target's
activations into the source's (`score(x) = (W w) . x + b`). The target layer and the map (among
{", ".join(f"`{json.dumps(spec)}`" for spec in c["maps"])}) are chosen on the training
statements without the target's labels: by how well the map, fitted on the other folds, predicts
the source probe's score from the target's activations (Pearson r on held-out folds). Controls:
the target's own probe (at its own chosen layer), {c["n_random"]} random maps of the same shape,
rank and norm, and {c["n_random"]} source probes trained on shuffled labels carried through the
same map; chance is 0.5. "Beats" means the carried interval's lower end lies above the random
maps' 95th percentile, or above 0.5.

{transfer_table(result)}
"""
    )
    if c["map_texts"] == "align":
        fitted = f"on the {s.n_align} shared texts of `{c['align_prompts']}` alone (no statement)"
    else:
        fitted = f"on the training statements and {s.n_align} further shared texts"
    parts.append(f"Maps are fitted {fitted}.\n")
    for t in result.transfers:
        curve = ", ".join(f"{x.layer}: {x.heldout_auroc:.2f}" for x in t.by_layer)
        parts.append(
            f"- **{t.source} -> {t.target}**: map agreement r = {t.agreement:.3f} at target layer "
            f"{t.target_layer} (depth-matched layer {t.depth_layer}); the source probe on its own "
            f"held-out statements {t.source_heldout.text()}; the target's own probe at the carried "
            f"layer {t.own_same_layer.text()}. Carried AUROC at every target layer with the same "
            f"kind of map (held out, not used for any choice): {curve}.\n"
        )
    parts.append(f"```json\n{json.dumps(result.summary(), indent=2)}\n```\n")
    return "\n".join(parts)
