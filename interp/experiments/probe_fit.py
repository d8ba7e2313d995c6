"""One linear probe on a model: fitted on labelled items at one layer, calibrated on controls.

    probe = fit_probe(model, labelled, layer=3)                  # logistic, on every item
    probe = calibrate(model, probe, benign_prompts, fpr=0.01)    # a threshold flagging 1% of them
    probe.save("probe.safetensors")

`interp.experiments.probe` (the `interp probe` study) chooses the layer by a cross-validated sweep
first; these are the two steps after it, for a layer one already knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from interp.capture.items import Item
from interp.capture.run import capture
from interp.errors import InterpError
from interp.experiments.probe_labels import binary_labels
from interp.hooks.names import parse_hook
from interp.models.model import Model
from interp.probes import LinearProbe, calibrate_probe, fit_logistic_probe, fit_mass_mean_probe
from interp.probes.calibrate import check_control_count
from interp.store.provenance import dataset_hash

METHODS = ("logistic", "mass_mean")


def fit_probe(
    model: Model,
    items: Iterable[Item | dict],
    *,
    layer: int,
    hook: str = "resid_post",
    positions: str = "all",
    method: str = "logistic",
    C: float = 0.1,
    controls: Sequence[str | Item | dict] | None = None,
    fpr: float = 0.01,
    batch_size: int = 8,
    progress: bool = False,
) -> LinearProbe:
    """A probe at `layer` (negative counts from the end) fitted on every labelled item; with
    `controls`, calibrated on them (see `calibrate`).

    Labels are 0/1 or two strings (the later one in sorted order is class 1); an item read at
    several tokens gives the probe one row per token, and scores as the mean of them.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> data = [{"prompt": "Q:1+2=?", "label": "yes"}, {"prompt": "Q:2+2=?", "label": "no"}] * 4
    >>> probe = interp.fit_probe(model, data, layer=-1)
    >>> probe.hook, probe.layer, probe.method, probe.threshold
    ('blocks.1.hook_resid_post', 1, 'logistic', None)
    """
    if method not in METHODS:
        raise InterpError(f"unknown probe method {method!r}", fix=f"use one of {METHODS}")
    if controls is not None:
        check_control_count(len(controls), fpr)  # before any model time
    data = binary_labels(items)
    name = parse_hook(f"blocks.{layer}.hook_{hook}", model.n_layers).name
    got = capture(
        model,
        data.items,
        name,
        positions=positions,  # type: ignore[arg-type]
        batch_size=batch_size,
        progress=progress,
    )
    assert got.prompt_index is not None
    rows, data_hash = got.activations[name].float(), dataset_hash(i.to_json() for i in data.items)
    if method == "logistic":
        probe = fit_logistic_probe(
            rows, data.labels, got.prompt_index, C, model=model, hook=name, dataset_hash=data_hash
        )
    else:
        probe = fit_mass_mean_probe(
            rows, data.labels, got.prompt_index, model=model, hook=name, dataset_hash=data_hash
        )
    if controls is None:
        return probe
    return calibrate(model, probe, controls, fpr=fpr, positions=positions, batch_size=batch_size)


def calibrate(
    model: Model,
    probe: LinearProbe,
    controls: Sequence[str | Item | dict],
    *,
    fpr: float = 0.01,
    positions: str = "all",
    batch_size: int = 8,
    progress: bool = False,
) -> LinearProbe:
    """A copy of `probe` whose threshold flags `fpr` of the control items (benign prompts or
    transcripts), each scored as the mean of its tokens' scores.

    At least enough controls for a stable threshold are required (10 exceedances: 1000 for 1%).

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> data = [{"prompt": "Q:1+2=?", "label": 1}, {"prompt": "Q:2+2=?", "label": 0}] * 4
    >>> probe = interp.fit_probe(model, data, layer=1)
    >>> benign = [f"Q:{a}+{b}=?" for a in range(10) for b in range(10)]
    >>> probe = interp.calibrate(model, probe, benign, fpr=0.1)
    >>> probe.threshold_fpr, probe.n_control
    (0.1, 100)
    """
    check_control_count(len(controls), fpr)
    if probe.hook is None:
        raise InterpError("the probe names no hook point", fix="fit it with interp.fit_probe")
    got = capture(
        model,
        controls,
        probe.hook,
        positions=positions,  # type: ignore[arg-type]
        batch_size=batch_size,
        progress=progress,
    )
    assert got.prompt_index is not None
    return calibrate_probe(probe, got.activations[probe.hook], got.prompt_index, fpr=fpr)
