"""Does a linear probe trained on one model read the same property in another model, of another
family, through an alignment map fitted on shared texts?

Statements (true/false pairs about entities, `probe_transfer_data`) are split by group, so no
entity is on both sides. Both models read every statement at its last token. Then:

1. per model and layer, on the training statements: the probe sweep (`probe_sweep.sweep_layers`,
   folds split by group: logistic probe, mass-mean baseline, shuffled-label null, activation norm);
   the best layer is chosen there. Every layer's probe, fitted on all training statements, is also
   scored once on the held-out entities (an interval over held-out groups);
2. per direction A -> B: A's probe at A's chosen layer is carried into B through a map from B's
   activations into A's (`probe_carry`: the probe's weight pulled back through the map). B's layer
   and the map (UNLOCK rank k, ridge, ...) are chosen on training statements without B's labels:
   by how well the map predicts A's probe score from B on held-out training folds. Then one score
   on B's held-out statements, beside: B's own probe (at B's chosen layer, and at the carried
   layer), the same construction with random maps of equal shape, rank and norm, A's probe trained
   on shuffled labels and carried the same way, and chance (0.5).

    config = ProbeTransferConfig.from_file("examples/truth_probe/config.json")
    result = run_probe_transfer(config, "runs/truth-probe")
    result.transfers[0].carried, result.transfers[0].random_p95

The run directory (written atomically) holds config.json, metrics.json, report.md, the carried
probes (`probe_A_to_B.safetensors`, a probe of B) and their maps (`maps_B_to_A.safetensors`).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

from interp.align import LayerMaps, fit_layer_maps
from interp.align.layers import depth_layer_map
from interp.capture.items import Item, read_items
from interp.capture.run import capture
from interp.errors import InterpError
from interp.experiments.probe_carry import (
    agreement,
    carried_probe,
    map_options,
    pull_back,
    quantile,
    random_matrix,
    shuffled_label_probes,
)
from interp.experiments.probe_sweep import LayerRows, SweepSettings, check_out_dir, sweep_layers
from interp.experiments.probe_transfer_config import ProbeTransferConfig, map_label
from interp.experiments.probe_transfer_data import (
    Statements,
    check_split,
    read_statements,
    split_by_group,
    split_of,
)
from interp.hooks.names import parse_hook
from interp.probes import LinearProbe, fit_logistic_probe
from interp.probes.grouped import assign_group_folds
from interp.results.probe_transfer import (
    Auroc,
    CarriedLayer,
    CarriedProbe,
    LayerProbe,
    MapCandidate,
    ModelProbes,
    ProbeTransferResult,
)
from interp.stats import auroc, auroc_interval, bootstrap_ci
from interp.store.artifacts import ModelRef


@dataclass(frozen=True)
class ModelRows:
    """One model's last-token activations of the study's texts, per swept layer (float32, CPU)."""

    name: str
    ref: ModelRef
    hook_kind: str
    layers: list[int]
    train: dict[int, Float[Tensor, "n_train d_model"]]
    test: dict[int, Float[Tensor, "n_test d_model"]]
    align: dict[int, Float[Tensor, "n_align d_model"]] | None

    def hook(self, layer: int) -> str:
        return f"blocks.{layer}.hook_{self.hook_kind}"


@dataclass(frozen=True)
class Study:
    """The checked inputs: statements split by group, extra shared texts, fold of each statement."""

    config: ProbeTransferConfig
    train: Statements
    test: Statements
    align: list[Item]
    fold: Tensor  # fold of each training statement, split by group


def prepare(config: ProbeTransferConfig) -> Study:
    """Read and check every input, so that bad input fails before any model time is spent."""
    config.check_files()
    data = read_statements(config.data)
    if config.test_data is not None:
        train, test = check_split(data, read_statements(config.test_data))
    else:
        train, test = split_by_group(data, config.test_fraction, config.seed, config.folds)
    fold = assign_group_folds(train.group_ids, train.labels, config.folds, config.seed)
    align = read_items(Path(config.align_prompts).expanduser()) if config.align_prompts else []
    return Study(config, train, test, align, fold)


def run_probe_transfer(
    config: ProbeTransferConfig, out: str | Path | None = None, *, progress: bool = False
) -> ProbeTransferResult:
    """The whole study; with `out`, a run directory."""
    study = prepare(config)
    check_out_dir(out)
    rows = [capture_rows(study, name, spec, progress) for name, spec in config.models.items()]
    models = [probe_layers(r, study, progress) for r in rows]
    carried = [
        carry(rows[i], rows[1 - i], models[i], models[1 - i], study) for i in range(len(rows))
    ]
    result = ProbeTransferResult(
        config=config.to_dict(),
        split=split_of(study.train, study.test, len(study.align)),
        models=models,
        transfers=[c[0] for c in carried],
    )
    if out is not None:
        write_run(Path(out), result, [(c[1], c[2]) for c in carried])
    return result


# ---- reading the models ---------------------------------------------------------------------


def capture_rows(study: Study, name: str, spec: str, progress: bool) -> ModelRows:
    """Load one model, read every text at its last token at the swept layers, let the model go."""
    from interp.experiments.loading import load_study_model

    config = study.config
    model = load_study_model(config, spec)
    layers = (config.layers or {}).get(name) or list(range(model.n_layers))
    too_deep = [layer for layer in layers if layer >= model.n_layers]
    if too_deep:
        raise InterpError(
            f"layers {too_deep} of {name!r} do not exist: it has {model.n_layers} layers",
            fix=f"list layers 0 to {model.n_layers - 1}",
        )
    # Plain prompts: the labels stay with the statements, and extra texts have none.
    texts = [Item(item.prompt) for item in [*study.train.items, *study.test.items, *study.align]]
    got = capture(
        model,
        texts,
        [f"blocks.{layer}.hook_{config.hook}" for layer in layers],
        positions="last",
        batch_size=config.batch_size,
        progress=progress,
    )
    assert got.prompt_index is not None
    order = torch.argsort(got.prompt_index)  # rows in text order, whatever the batching did
    by_layer = {
        parse_hook(hook, model.n_layers).layer: acts[order].float().cpu()
        for hook, acts in got.activations.items()
    }
    n_train, n_test = len(study.train), len(study.test)
    ref = ModelRef.of(model)
    del model, got
    gc.collect()
    return ModelRows(
        name=name,
        ref=ref,
        hook_kind=config.hook,
        layers=sorted(layers),
        train={k: v[:n_train] for k, v in by_layer.items()},
        test={k: v[n_train : n_train + n_test] for k, v in by_layer.items()},
        align={k: v[n_train + n_test :] for k, v in by_layer.items()} if study.align else None,
    )


# ---- one model's probes ---------------------------------------------------------------------


def probe_layers(r: ModelRows, study: Study, progress: bool = False) -> ModelProbes:
    """The grouped probe sweep on the training statements, and a held-out test at every layer."""
    c, train, test = study.config, study.train, study.test
    settings = SweepSettings(c.hook, "last", c.C, c.folds, c.seed, c.n_perm, c.n_boot, c.batch_size)
    hooks = [r.hook(layer) for layer in r.layers]
    data = LayerRows(hooks, {r.hook(k): r.train[k] for k in r.layers}, torch.arange(len(train)))
    sweep = sweep_layers(data, train.labels, settings, groups=train.group_ids, progress=progress)
    rows = []
    for entry, layer in zip(sweep["layers"], r.layers, strict=True):
        probe = fit_logistic_probe(r.train[layer].double(), train.labels, None, c.C)
        scores = probe.score_tokens(r.test[layer].double())
        rows.append(
            LayerProbe(
                layer=layer,
                hook=r.hook(layer),
                cv=Auroc(entry["auroc"], entry["auroc_low"], entry["auroc_high"]),
                null_p95=entry["null_p95"],
                p_value=entry["p_value"],
                mass_mean_cv=entry["mass_mean_auroc"],
                norm_cv=entry["norm_auroc"],
                heldout=heldout_auroc(scores, study),
                heldout_norm=auroc(r.test[layer].double().norm(dim=1), test.labels),
            )
        )
    best = sweep["best"]
    return ModelProbes(
        name=r.name,
        spec=r.ref.spec,
        n_layers=r.ref.n_layers,
        d_model=r.ref.d_model,
        layers=rows,
        best_layer=r.layers[best["layer"]],  # the sweep numbers swept layers from 0
        null_max_p95=best["null_max_p95"],
        p_value_family=best["p_value_family"],
    )


def heldout_auroc(scores: Tensor, study: Study) -> Auroc:
    """AUROC on the held-out statements, with an interval that resamples whole held-out groups."""
    c, test = study.config, study.test
    return Auroc.of(
        auroc_interval(scores, test.labels, n=c.n_boot, seed=c.seed, groups=test.group_ids)
    )


# ---- one direction of transfer --------------------------------------------------------------


def carry(
    src: ModelRows, dst: ModelRows, src_probes: ModelProbes, dst_probes: ModelProbes, study: Study
) -> tuple[CarriedProbe, LinearProbe, LayerMaps]:
    """Carry the source's probe into the target and score it once beside its controls."""
    c, train, test = study.config, study.train, study.test
    source_layer = src_probes.best_layer
    probe = fit_logistic_probe(
        src.train[source_layer].double(), train.labels, None, c.C,
        model=src.ref, hook=src.hook(source_layer),
    )  # fmt: skip
    candidates = [
        MapCandidate(layer, map_label(spec), agreement_at(spec, layer, src, dst, probe, study))
        for layer in dst.layers
        for spec in c.maps
    ]
    chosen = max(candidates, key=lambda m: m.agreement)  # the first of equals
    spec = c.maps[[map_label(s) for s in c.maps].index(chosen.map)]
    layer = chosen.layer
    maps = final_maps(spec, layer, src, dst, source_layer, c.map_texts)
    linear_map = maps[source_layer][1]
    carried = carried_probe(
        probe, linear_map, hook=dst.hook(layer), model=dst.ref, method="logistic", C=c.C,
        warning=f"carried from {src.ref.spec} ({src.hook(source_layer)}) through a "
        f"{map_label(spec)} map; not fitted on this model",
    )  # fmt: skip
    x_test = dst.test[layer].double()
    s_carried = carried.score_tokens(x_test)
    own_layer = dst_probes.best_layer
    own = fit_logistic_probe(dst.train[own_layer].double(), train.labels, None, c.C)
    s_own = own.score_tokens(dst.test[own_layer].double())
    w = probe.effective_weight()[0]
    random_maps = [
        auroc(x_test @ (random_matrix(linear_map, c.seed + 1 + i) @ w), test.labels)
        for i in range(c.n_random)
    ]
    shuffled = [
        auroc(x_test @ pull_back(p, linear_map)[0], test.labels)
        for p in shuffled_label_probes(
            src.train[source_layer], train.labels, c.C, c.n_random, c.seed
        )
    ]
    score, random_p95 = heldout_auroc(s_carried, study), quantile(random_maps, 0.95)
    result = CarriedProbe(
        source=src.name,
        target=dst.name,
        source_layer=source_layer,
        target_layer=layer,
        depth_layer=depth_layer_map(dst.ref.n_layers, src.ref.n_layers)[source_layer],
        map=chosen.map,
        map_rank=linear_map.rank or min(linear_map.d_source, linear_map.d_target),
        agreement=chosen.agreement,
        carried=score,
        source_heldout=src_probes.at(source_layer).heldout,
        own=heldout_auroc(s_own, study),
        own_layer=own_layer,
        own_same_layer=dst_probes.at(layer).heldout,
        carried_minus_own=auroc_difference(s_carried, s_own, study),
        random_maps=random_maps,
        random_p95=random_p95,
        shuffled_probes=shuffled,
        shuffled_p95=quantile(shuffled, 0.95),
        beats_random=score.low > random_p95,
        beats_chance=score.low > 0.5,
        candidates=candidates,
        by_layer=by_layer(spec, candidates, src, dst, probe, source_layer, study),
    )
    return result, carried, maps


def agreement_at(
    spec: dict, layer: int, src: ModelRows, dst: ModelRows, probe: LinearProbe, study: Study
) -> float:
    """`probe_carry.agreement` of a map from `dst` at `layer` into the probe's layer of `src`."""
    i = probe.layer
    assert i is not None
    extra = (dst.align[layer], src.align[i]) if dst.align and src.align else None
    fold = None if study.config.map_texts == "align" else study.fold
    return agreement(spec, dst.train[layer], src.train[i], fold, probe, extra)


def final_maps(
    spec: dict, layer: int, src: ModelRows, dst: ModelRows, source_layer: int, texts: str
) -> LayerMaps:
    """The chosen map, target -> source, fitted on every training statement and the extra texts
    (`texts` "statements") or on the extra texts alone ("align")."""
    xs, xt = dst.train[layer], src.train[source_layer]
    if dst.align is not None and src.align is not None:
        extra = (dst.align[layer], src.align[source_layer])
        both = (torch.cat([xs, extra[0]]), torch.cat([xt, extra[1]]))
        xs, xt = extra if texts == "align" else both
    name, options = map_options(spec, xs)
    return fit_layer_maps(
        {dst.hook(layer): xs},
        {src.hook(source_layer): xt},
        source=dst.ref,
        target=src.ref,
        fit=name,
        layers=[layer] * src.ref.n_layers,  # only the probe's layer is fitted
        **options,
    )


def by_layer(
    spec: dict,
    candidates: list[MapCandidate],
    src: ModelRows,
    dst: ModelRows,
    probe: LinearProbe,
    source_layer: int,
    study: Study,
) -> list[CarriedLayer]:
    """The chosen kind of map at every target layer, scored on held-out statements (not a choice)."""
    label = map_label(spec)
    rows = []
    for layer in dst.layers:
        maps = final_maps(spec, layer, src, dst, source_layer, study.config.map_texts)
        m = maps[source_layer][1]
        weight, _ = pull_back(probe, m)
        score = auroc(dst.test[layer].double() @ weight, study.test.labels)
        agreed = next(x.agreement for x in candidates if x.layer == layer and x.map == label)
        rows.append(CarriedLayer(layer, agreed, score))
    return rows


def auroc_difference(a: Tensor, b: Tensor, study: Study) -> Auroc:
    """AUROC(a) - AUROC(b) on the held-out statements, paired: both resample the same groups."""
    c, test = study.config, study.test
    return Auroc.of(
        bootstrap_ci(
            lambda x, y, labels: auroc(x, labels) - auroc(y, labels), a, b, test.labels,
            n=c.n_boot, seed=c.seed, groups=test.group_ids,
        )
    )  # fmt: skip


# ---- the run directory ----------------------------------------------------------------------


def write_run(
    out: Path, result: ProbeTransferResult, artifacts: list[tuple[LinearProbe, LayerMaps]]
) -> Path:
    """config.json, metrics.json, report.md, carried probes and maps: all together or none."""
    from interp.files import atomic_directory, atomic_write_json, atomic_write_text
    from interp.reports.probe_transfer_report import report

    with atomic_directory(out) as tmp:
        atomic_write_json(tmp / "config.json", result.config)
        atomic_write_json(tmp / "metrics.json", result.to_json())
        atomic_write_text(tmp / "report.md", report(result))
        for t, (probe, maps) in zip(result.transfers, artifacts, strict=True):
            probe.save(tmp / f"probe_{t.source}_to_{t.target}.safetensors")
            maps.save(tmp / f"maps_{t.target}_to_{t.source}.safetensors")
    return out
