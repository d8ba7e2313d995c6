"""`interp probe` as a study: the per-layer probe sweep and, when asked, one saved probe.

    config = ProbeConfig(data="labelled.jsonl", out="runs/probe", save_probe="probe.safetensors",
                         calibrate="benign.jsonl", fpr=0.01)
    result = run_probe(config, load=lambda: load_model("path/to/model"))
    result.best["layer"], result.saved.probe.threshold
    result.metrics()                                   # what metrics.json holds

The sweep is `interp.experiments.probe_sweep`; the saved probe is the logistic probe at `layer`
(default: the sweep's best) fitted on every prompt, with a warning when that layer's cross-validated
AUROC falls below its shuffled-label control, and with `calibrate` a threshold that flags `fpr` of
the control responses. Everything that can be checked without the model is checked before `load`
is called; the run directory and the probe file are written only once every step has succeeded.
With `from_store`, activations are read from a store `interp capture` wrote for `data`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp.capture.items import Item, read_items
from interp.errors import InterpError
from interp.experiments.config_checks import check_known_fields
from interp.experiments.probe_fit import calibrate
from interp.experiments.probe_labels import LabelledItems, binary_labels, check_fold_sizes
from interp.experiments.probe_sweep import (
    LayerRows,
    SweepSettings,
    capture_layers,
    check_out_dir,
    describe_data,
    sweep_layers,
    write_run,
)
from interp.models.model import Model
from interp.probes import LinearProbe, fit_logistic_probe
from interp.probes.calibrate import check_control_count


@dataclass(frozen=True)
class ProbeConfig:
    """What `interp probe` was asked to do (its options, parsed)."""

    data: str
    out: str | None = None  # the run directory; None writes none
    settings: SweepSettings = field(default_factory=SweepSettings)
    layer: int | None = None  # of the saved probe; negative counts from the end
    save_probe: str | None = None
    calibrate: str | None = None  # control prompts whose scores set the threshold
    fpr: float = 0.01
    from_store: str | None = None
    model: str | None = None  # the model spec, where the config is all there is (a JSON file)

    @classmethod
    def from_file(cls, path: str | Path) -> ProbeConfig:
        from interp.experiments.config_file import read_config_file

        return cls.from_dict(read_config_file(path), where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "config") -> ProbeConfig:
        """The config a JSON object describes: the fields above, `settings` an object of
        `SweepSettings`' fields."""
        if not isinstance(raw, dict):
            raise InterpError(f"{where} must be a JSON object", fix='write {"data": ...}')
        check_known_fields(raw, cls, where)
        if "data" not in raw:
            raise InterpError(f"{where} is missing the field 'data'", fix="name the labelled items")
        settings = raw.get("settings", {})
        if not isinstance(settings, dict):
            raise InterpError(f"{where}: settings must be an object", fix="or leave it out")
        check_known_fields(settings, SweepSettings, f"{where}'s settings")
        config = cls(**{**raw, "settings": SweepSettings(**settings)})
        config.check()
        return config

    def check(self) -> None:
        """Options that only make sense together, and output paths, refused before any work."""
        if self.save_probe is None and (self.layer is not None or self.calibrate is not None):
            raise InterpError(
                "--layer and --calibrate choose and calibrate the saved probe, but no "
                "--save-probe was given",
                fix="add --save-probe FILE.safetensors",
            )
        if self.save_probe is not None and Path(self.save_probe).is_dir():
            raise InterpError(f"--save-probe {self.save_probe} is a directory", fix="name a file")
        if not 0 < self.fpr < 1:
            raise InterpError(f"--fpr must lie in (0, 1), got {self.fpr}", fix="use e.g. 0.01")
        self.settings.check()


@dataclass(frozen=True)
class SavedProbe:
    """The probe written to `path`, and the control file that calibrated it (if any)."""

    probe: LinearProbe
    path: str
    control_file: str | None

    def describe(self) -> dict[str, Any]:
        """metrics.json's "probe" entry."""
        p = self.probe
        return {
            "warning": p.warning or None,
            "path": self.path,
            "hook": p.hook,
            "layer": p.layer,
            "method": p.method,
            "C": p.C,
            "threshold": p.threshold,
            "threshold_fpr": p.threshold_fpr,
            "n_control": p.n_control,
            "control_file": self.control_file,
        }


@dataclass(frozen=True)
class ProbeResult:
    """The sweep (config, per-layer table, best layer, as in metrics.json) and the saved probe."""

    config: dict[str, Any]
    layers: list[dict[str, Any]]
    best: dict[str, Any]
    saved: SavedProbe | None = None

    def metrics(self) -> dict[str, Any]:
        """metrics.json: {"config", "layers", "best"} and, with a saved probe, "probe"."""
        out: dict[str, Any] = {"config": self.config, "layers": self.layers, "best": self.best}
        if self.saved is not None:
            out["probe"] = self.saved.describe()
        return out


def run_probe(
    config: ProbeConfig, load: Callable[[], Model], progress: bool = False
) -> ProbeResult:
    """Check everything, load the model, sweep, fit; write only once every step has succeeded."""
    config.check()
    data = binary_labels(read_items(config.data))
    check_fold_sizes(data.labels, config.settings.folds)
    controls = read_items(config.calibrate) if config.calibrate else None
    if controls is not None:
        check_control_count(len(controls), config.fpr)  # before the sweep, not after it
    check_out_dir(config.out)
    if config.from_store is not None:
        from interp.store.reader import ActivationReader

        ActivationReader(config.from_store)  # a wrong path fails here, before the model loads

    model = load()
    layer = resolve_layer(config.layer, model.n_layers)
    settings = config.settings
    rows = capture_layers(model, data.items, settings, progress, config.from_store)
    run_config = {**describe_data(model, data, settings), "data": config.data}
    if config.from_store is not None:
        run_config["from_store"] = config.from_store
    sweep = sweep_layers(rows, data.labels, settings, progress=progress)
    result = ProbeResult(run_config, sweep["layers"], sweep["best"])
    if config.save_probe:
        layer = result.best["layer"] if layer is None else layer
        probe = final_probe(model, rows, data, settings, layer, run_config["dataset_hash"])
        warning = below_control(result.layers, layer)
        if warning:
            probe = dataclasses.replace(probe, warning=warning)
        if controls is not None:
            probe = calibrated(model, probe, controls, settings, config.fpr, progress)
        result = dataclasses.replace(
            result, saved=SavedProbe(probe, config.save_probe, config.calibrate)
        )

    if config.out is not None:
        write_run(Path(config.out), result.metrics())
    if result.saved is not None:
        result.saved.probe.save(result.saved.path)
    return result


def resolve_layer(layer: int | None, n_layers: int) -> int | None:
    """`layer` as a non-negative index into the model's layers; None stays None."""
    if layer is None:
        return None
    if not -n_layers <= layer < n_layers:
        raise InterpError(
            f"layer {layer} is out of range for a model of {n_layers} layers",
            fix=f"use a layer from {-n_layers} to {n_layers - 1}",
        )
    return layer % n_layers


def final_probe(
    model: Model,
    rows: LayerRows,
    data: LabelledItems,
    settings: SweepSettings,
    layer: int,
    data_hash: str,
) -> LinearProbe:
    """The logistic probe at `layer` fitted on every prompt (the sweep's numbers are its estimate)."""
    hook = rows.hooks[layer]
    return fit_logistic_probe(
        rows.rows[hook],
        data.labels,
        rows.prompt_index,
        settings.C,
        model=model,
        hook=hook,
        dataset_hash=data_hash,
    )


def calibrated(
    model: Model,
    probe: LinearProbe,
    controls: list[Item],
    settings: SweepSettings,
    fpr: float,
    progress: bool,
) -> LinearProbe:
    """The probe with a threshold from per-response scores of the control prompts."""
    return calibrate(
        model,
        probe,
        controls,
        fpr=fpr,
        positions=settings.positions,
        batch_size=settings.batch_size,
        progress=progress,
    )


def below_control(table: list[dict[str, Any]], layer: int) -> str:
    """A warning when the saved layer's cross-validated AUROC does not beat its shuffled-label
    control (the 95th percentile of the permutation null), else ""."""
    row = next(r for r in table if r["layer"] == layer)
    if row["auroc"] >= row["null_p95"]:
        return ""
    return (
        f"layer {layer}'s cross-validated AUROC {row['auroc']:.3f} is below its shuffled-label "
        f"control ({row['null_p95']:.3f} at the 95th percentile): the saved probe may read nothing"
    )
