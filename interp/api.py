"""The studies from Python: each takes its config (the dataclass, a dict of its fields, or the path
of a JSON file, as `--config` takes) and returns its typed result.

    result = interp.transfer("examples/transfer_organisms.json")           # -> TransferResult
    result = interp.audit({"suspects": [...], "reference": ...}, out="runs/audit")  # -> AuditResult

`out` is the run directory the command line writes (config.json, metrics.json, report.md, figures/
and the artifacts); with `out=None` a study that needs one runs in a temporary directory that is
removed afterwards, and only the result is kept. The command for each: `interp transfer`,
`interp audit`, `interp probe-transfer`, `interp probe`, `interp align`, `interp demo`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from interp.errors import InterpError

if TYPE_CHECKING:
    from interp.capture.items import Item
    from interp.directions.direction_set import DirectionSet
    from interp.experiments.align import AlignResult
    from interp.experiments.demo import DemoResult
    from interp.experiments.probe import ProbeResult
    from interp.models.model import Model
    from interp.results.audit import AuditResult
    from interp.results.mcqa import MCQAResult
    from interp.results.probe_transfer import ProbeTransferResult
    from interp.results.transfer import TransferResult

C = TypeVar("C")
Config = Any  # the study's config dataclass, a dict of its fields, or a path to a JSON file


def study_config(kind: type[C], config: Config) -> C:
    """`config` as a `kind`: checked when given as the dataclass, parsed and checked otherwise.

    >>> from interp.experiments.align import AlignConfig
    >>> study_config(AlignConfig, {"source": "a", "target": "b", "prompts": "p.txt"}).rank
    16
    >>> study_config(AlignConfig, 3)
    Traceback (most recent call last):
    interp.errors.InterpError: the config is an int, not an AlignConfig, a dict of its fields or a JSON file's path; pass one of those
    """
    if isinstance(config, kind):
        check = getattr(config, "check", None)
        if check is not None:
            check()
        return config
    if isinstance(config, Mapping):
        return kind.from_dict(dict(config))  # type: ignore[attr-defined,no-any-return]
    if isinstance(config, str | Path):
        return kind.from_file(config)  # type: ignore[attr-defined,no-any-return]
    raise InterpError(
        f"the config is {_a(type(config).__name__)}, not {_a(kind.__name__)}, a dict of its fields "
        "or a JSON file's path",
        fix="pass one of those",
    )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


@contextmanager
def run_dir(out: str | Path | None, resume: bool) -> Iterator[Path]:
    """`out` itself, or `run` in a temporary directory that is removed when the block ends."""
    if out is not None:
        yield Path(out)
        return
    if resume:
        raise InterpError("resume continues a run directory, but out is None", fix="pass out")
    with tempfile.TemporaryDirectory(prefix="interp-") as tmp:
        yield Path(tmp) / "run"


def transfer(
    config: Config,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = False,
    ray: str | None = None,
) -> TransferResult:
    """The UNLOCK transfer study (`interp transfer`): a direction carried from a source model into a
    target through per-layer maps, chosen on selection items, scored once on held-out items. With
    `ray` ("auto", a head's address, "local" or "local:N") the grid points run as Ray tasks, to
    the same result (docs/ray.md).

    >>> import interp
    >>> config = {"source_locked": "organism:add-medium", "target": "organism:add-large",
    ...           "n_values": [8], "ranks": [4], "alphas": [0.1], "n_select": 4, "n_test": 8,
    ...           "n_controls": 2, "n_bootstrap": 100, "max_new_tokens": 24}
    >>> interp.TransferConfig.from_dict(config).ranks         # what interp.transfer checks first
    [4]
    >>> result = interp.transfer(config)                        # doctest: +SKIP
    >>> result.gain, result.gain_ci95, result.random_control_gain_p95   # doctest: +SKIP
    """
    from interp.experiments.transfer import run_transfer
    from interp.experiments.transfer_config import TransferConfig
    from interp.experiments.units import executor_for

    checked = study_config(TransferConfig, config)
    executor = executor_for(ray)
    with run_dir(out, resume) as path:
        return run_transfer(checked, path, progress=progress, resume=resume, executor=executor)


def audit(
    config: Config,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool = False,
    ray: str | None = None,
) -> AuditResult:
    """The sandbagging audit (`interp audit`): probe, weight noise and elicitation on each suspect,
    a verdict per suspect, scored against an answer key when the config names one. With `ray`
    ("auto", a head's address, "local" or "local:N") the suspects run as Ray tasks, to the same
    result (docs/ray.md).

    >>> import interp
    >>> config = {"suspects": ["organism:add-medium-m1", "organism:add-medium"],
    ...           "reference": "organism:add-medium-m4", "answer_key": "zoo"}
    >>> interp.AuditConfig.from_dict(config).decision          # what interp.audit checks first
    'majority'
    >>> result = interp.audit(config, out="runs/audit")         # doctest: +SKIP
    >>> result.verdicts["add-medium-m1"].overall.sandbagging    # doctest: +SKIP
    """
    from interp.experiments.audit import run_audit
    from interp.experiments.audit_config import AuditConfig
    from interp.experiments.units import executor_for

    checked = study_config(AuditConfig, config)
    executor = executor_for(ray)
    with run_dir(out, resume) as path:
        return run_audit(checked, path, progress=progress, resume=resume, executor=executor)


def probe_transfer(
    config: Config, out: str | Path | None = None, *, progress: bool = False
) -> ProbeTransferResult:
    """A probe trained on one model carried into another through a map (`interp probe-transfer`),
    scored on held-out entities beside the target's own probe and random maps.

    >>> import interp
    >>> config = {"models": {"small": "organism:add-small", "medium": "organism:add-medium"},
    ...           "data": "statements.jsonl"}
    >>> interp.ProbeTransferConfig.from_dict(config).folds     # what interp.probe_transfer checks
    5
    >>> result = interp.probe_transfer(config)                 # doctest: +SKIP
    >>> [m.best_layer for m in result.models]                  # doctest: +SKIP
    """
    from interp.experiments.probe_transfer import run_probe_transfer
    from interp.experiments.probe_transfer_config import ProbeTransferConfig

    checked = study_config(ProbeTransferConfig, config)
    return run_probe_transfer(checked, out, progress=progress)


def probe(
    config: Config,
    out: str | Path | None = None,
    *,
    model: Model | str | None = None,
    progress: bool = False,
) -> ProbeResult:
    """The probe sweep of `interp probe` on labelled items (`data`, a file) and, with `save_probe`,
    one probe saved at `layer` (default: the best), calibrated on the `calibrate` prompts.

    The model is `model` (loaded, or a spec), else the config's `model` spec.

    >>> import interp, json, tempfile, pathlib
    >>> data = pathlib.Path(tempfile.mkdtemp()) / "labelled.jsonl"
    >>> rows = [{"prompt": f"Q:{a}+{a}=?", "label": a % 2} for a in range(20)]
    >>> _ = data.write_text("\\n".join(json.dumps(r) for r in rows))
    >>> result = interp.probe({"data": str(data), "settings": {"folds": 2, "n_perm": 5,
    ...                        "n_boot": 50, "positions": "last"}}, model="organism:add-small")
    >>> [row["layer"] for row in result.layers], result.saved is None
    ([0, 1], True)
    """
    from interp.experiments.probe import ProbeConfig, run_probe

    checked = study_config(ProbeConfig, config)
    if out is not None:
        checked = _replace(checked, out=str(out))
    chosen = model if model is not None else checked.model
    if chosen is None:
        raise InterpError("no model to probe", fix="pass model= or name it in the config")
    return run_probe(checked, lambda: _loaded(chosen), progress)


def probe_sweep(
    model: Model,
    items: Iterable[Item | dict],
    out: str | Path | None = None,
    *,
    hook: str = "resid_post",
    positions: str = "all",
    C: float = 0.1,
    folds: int = 5,
    seed: int = 0,
    permutations: int = 50,
    bootstrap: int = 1000,
    batch_size: int = 8,
    groups: Sequence[Hashable] | None = None,
    label_names: tuple[str, str] | None = None,
    from_store: str | Path | None = None,
    progress: bool = False,
) -> ProbeResult:
    """Cross-validated logistic probes at every layer (folds by prompt, or by `groups`), beside the
    mass-mean baseline, a shuffled-label null and the activation norm alone.

    >>> import interp
    >>> model = interp.load_model("organism:add-small")
    >>> items = [{"prompt": f"Q:{a}+1=?", "label": int(a > 4)} for a in range(10)]
    >>> result = interp.probe_sweep(model, items, positions="last", folds=2, permutations=5,
    ...                             bootstrap=50)
    >>> len(result.layers), sorted(result.best)[:3]
    (2, ['auroc', 'auroc_high', 'auroc_low'])
    """
    from interp.experiments.probe import ProbeResult
    from interp.experiments.probe_sweep import run_probe_sweep

    metrics = run_probe_sweep(
        model, items, hook, positions, C, folds, out, seed,
        n_perm=permutations, n_boot=bootstrap, batch_size=batch_size, label_names=label_names,
        groups=groups, from_store=from_store, progress=progress,
    )  # fmt: skip
    return ProbeResult(metrics["config"], metrics["layers"], metrics["best"])


def align_models(
    config: Config,
    out: str | Path | None = None,
    *,
    source: Model | None = None,
    target: Model | None = None,
    progress: bool = False,
) -> AlignResult:
    """Per-layer maps from the source's activation space into the target's (`interp align`),
    fitted on the `prompts` file's training split, with held-out R^2 and cosine per layer.

    `source` and `target`, when given, are used instead of loading the config's specs (which a
    dict config may then leave out). `out` (or the config's `out`) is the maps file to write.

    >>> import interp, tempfile, pathlib
    >>> prompts = pathlib.Path(tempfile.mkdtemp()) / "shared.txt"
    >>> _ = prompts.write_text("\\n".join(f"Q:{a}+{a + 1}=?" for a in range(24)))
    >>> result = interp.align_models({"source": "organism:add-small",
    ...     "target": "organism:add-medium", "prompts": str(prompts), "rank": 4})
    >>> sorted(result.maps.maps), result.n_train, result.n_held_out
    ([0, 1, 2], 18, 6)
    """
    from interp.experiments.align import AlignConfig, run_align

    if isinstance(config, Mapping):
        given = {"source": source, "target": target}
        config = {**{k: m.spec for k, m in given.items() if m is not None}, **config}
    checked = study_config(AlignConfig, config)
    if out is not None:
        checked = _replace(checked, out=str(out))
    models = iter((source, target))  # run_align loads the source, then the target

    def load(spec: str) -> Model:
        model = next(models)
        return model if model is not None else _loaded(spec)

    return run_align(checked, load, progress)


def mcqa(
    config: Config,
    out: str | Path | None = None,
    *,
    model: Model | str | None = None,
    progress: bool = False,
) -> MCQAResult:
    """Multiple choice read from one attention head against the logit baseline (`interp mcqa`):
    the head chosen on validation questions, scored once on test questions, with intervals.

    The model is `model` (loaded, or a spec), else the config's `model` spec.

    >>> import interp, json, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "questions.jsonl"
    >>> rows = [{"question": f"{a}+{a}=?", "options": [str(2 * a), str(2 * a + 1), "x"],
    ...          "answer": 0} for a in range(6)]
    >>> _ = path.write_text("\\n".join(json.dumps(r) for r in rows))
    >>> result = interp.mcqa({"model": "organism:add-small", "task_file": str(path), "n_boot": 50})
    >>> result.n_items, result.chosen.score in ("qk", "attention")
    (18, True)
    """
    from interp.experiments.mcqa import MCQAConfig, run_mcqa

    checked = study_config(MCQAConfig, config)
    loaded = _loaded(model) if model is not None else None
    return run_mcqa(checked, out, model=loaded, progress=progress)


def demo(out: str | Path | None = None, *, seed: int = 0, progress: bool = False) -> DemoResult:
    """`interp demo`: a small transfer study and a small audit on the shipped organism zoo.

    >>> import interp
    >>> result = interp.demo(out="runs/demo", progress=True)   # doctest: +SKIP
    >>> result.transfer.gain, result.audit.score.describe()    # doctest: +SKIP
    """
    from interp.experiments.demo import run_demo

    with run_dir(out, resume=False) as path:
        return run_demo(path, seed=seed, progress=progress)


def export_control_vector(
    directions: DirectionSet | str | Path,
    out: str | Path,
    *,
    layers: Sequence[int] | None = None,
    model_hint: str | None = None,
) -> Path:
    """`interp export --format gguf`: a direction set (or its file) as a llama.cpp control vector,
    `direction.{k}` added to block k's output; use it with `--control-vector-scaled FILE SCALE`.

    >>> import interp
    >>> interp.api.export_control_vector("directions.safetensors", "x.gguf")   # doctest: +SKIP
    """
    from interp.directions.control_vector import combine_for_export, write_control_vector
    from interp.directions.direction_set import DirectionSet

    ds = directions if isinstance(directions, DirectionSet) else DirectionSet.load(directions)
    return write_control_vector(combine_for_export([ds], layers=layers), out, model_hint=model_hint)


def import_control_vector(
    path: str | Path, *, model: Model | str | None = None, n_layers: int | None = None
) -> DirectionSet:
    """`interp import`: a llama.cpp or repeng control vector as a direction set at resid_post.

    >>> import interp
    >>> ds = interp.api.import_control_vector("x.gguf")     # doctest: +SKIP
    """
    from interp.directions.control_vector import read_control_vector
    from interp.store.artifacts import ModelRef

    ref = None if model is None else ModelRef.of(_loaded(model))
    return read_control_vector(path, model=ref, n_layers=n_layers)


def _loaded(model: Model | str) -> Model:
    """`model` itself when loaded, else the model its spec names."""
    from interp.models.load import load_model

    return load_model(model) if isinstance(model, str) else model


def _replace(config: C, **changes: Any) -> C:
    import dataclasses

    return dataclasses.replace(config, **changes)  # type: ignore[type-var]
