"""A study's independent units of work (the grid points of a transfer study, the suspects of an
audit), run here one after another or spread as Ray tasks over a cluster.

    units = [Unit(f"suspect-{i}", given(spec, config)) for i, spec in enumerate(specs)]
    results = run_units(run, units, audit_one, executor)   # {unit name: JSON-ready result}

`work(models, *args)` is a module-level function (a Ray worker imports it by name) returning a
JSON-ready result; `models(config, spec)` gives it a loaded model. Here that is the study's own
already-loaded model where there is one; on a cluster every task loads its model(s) itself from the
config's specs, so a model never travels through Ray's object store (only specs, configs, items and
small tensors such as directions do, by Ray's own serialization; the run directory holds JSON
only). A unit's inputs are made only when it is still to run, and a unit already checkpointed in
the run directory is read back, not run, by either executor.

Checkpoints are written by the driver, as each task's result comes back, not by the task: the run
directory then never needs to be reachable from the workers (a multi-node cluster needs no shared
filesystem), it has one writer, and a checkpoint is exactly what the sequential path writes
(`RunDir.save` canonicalises both). A task that finishes after its driver is killed was lost either
way: Ray cancels a driver's tasks when the driver exits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from interp.errors import InterpError
from interp.experiments.loading import LoadsModels, load_study_model
from interp.experiments.run_dir import RunDir
from interp.models.model import Model

ModelSource = Callable[[LoadsModels, str], Model]
Log = Callable[[str], None]


@dataclass(frozen=True)
class Unit:
    name: str  # its checkpoint's name in the run directory
    inputs: Callable[[], tuple[Any, ...]]  # work's arguments after `models`; called only to run it


def given(*inputs: Any) -> Callable[[], tuple[Any, ...]]:
    """A unit's inputs that are at hand already."""
    return lambda: inputs


class Executor(Protocol):
    def run(
        self,
        run: RunDir,
        units: Sequence[Unit],
        work: Callable[..., Any],
        log: Log,
        loaded: Mapping[str, Model],
    ) -> dict[str, Any]: ...


def run_units(
    run: RunDir,
    units: Sequence[Unit],
    work: Callable[..., Any],
    executor: Executor | None = None,
    log: Log | None = None,
    loaded: Mapping[str, Model] | None = None,
) -> dict[str, Any]:
    """Every unit's JSON-ready result (as it reads back from its checkpoint), in the units' order.
    `loaded` (spec -> model) are the study's models, which units run in this process share."""
    return (executor or Sequential()).run(run, units, work, log or _silent, loaded or {})


@dataclass(frozen=True)
class Sequential:
    """One unit after another in this process (the default)."""

    def run(
        self,
        run: RunDir,
        units: Sequence[Unit],
        work: Callable[..., Any],
        log: Log,
        loaded: Mapping[str, Model],
    ) -> dict[str, Any]:
        def models(config: LoadsModels, spec: str) -> Model:
            return loaded[spec] if spec in loaded else load_study_model(config, spec)

        results = {}
        for index, unit in enumerate(units, 1):
            done = run.done(unit.name)
            log(f"[{index}/{len(units)}] {unit.name}" + (" (checkpointed)" if done else ""))

            def compute(unit: Unit = unit) -> Any:
                return work(models, *unit.inputs())

            results[unit.name] = run.unit(unit.name, compute)
        return results


@dataclass(frozen=True)
class RayCluster:
    """Each unit a Ray task on the cluster at `address`: "auto" (the one `ray start` joined this
    machine to), "local" or "local:N" (a Ray started here, with all or N CPUs), or a head's address
    ("HOST:6379", "ray://HOST:10001"). A Ray already started in this process is used as it is."""

    address: str
    cpus_per_unit: float = 1.0
    gpus_per_unit: float = 0.0

    def run(
        self,
        run: RunDir,
        units: Sequence[Unit],
        work: Callable[..., Any],
        log: Log,
        loaded: Mapping[str, Model],  # not used: a task loads its own models on its worker
    ) -> dict[str, Any]:
        ray = import_ray()
        results = {u.name: run.unit(u.name, _never) for u in units if run.done(u.name)}
        todo = [u for u in units if u.name not in results]
        if results:
            log(f"{len(results)} of {len(units)} units read back from their checkpoints")
        if not todo:
            return {u.name: results[u.name] for u in units}
        started_here = self.connect(ray)
        try:
            task = ray.remote(_run_on_worker).options(
                num_cpus=self.cpus_per_unit, num_gpus=self.gpus_per_unit
            )
            submitted = time.perf_counter()
            pending = {task.remote(work, *unit.inputs()): unit for unit in todo}
            log(f"{len(pending)} units submitted to Ray ({_resources(ray)})")
            try:
                while pending:
                    [ref], _ = ray.wait(list(pending), num_returns=1)
                    unit = pending.pop(ref)
                    results[unit.name] = run.save(unit.name, _result(ray, ref, unit))
                    seconds = time.perf_counter() - submitted
                    log(f"[{len(results)}/{len(units)}] {unit.name} done ({seconds:.1f} s)")
            finally:
                for ref in pending:  # a failed unit or an interrupt: stop the rest
                    ray.cancel(ref, force=True)
        finally:
            if started_here:
                ray.shutdown()
        return {u.name: results[u.name] for u in units}

    def __post_init__(self) -> None:
        kind, _, count = self.address.partition(":")
        if kind == "local" and count:
            _cpus(count)  # refused at once, whether or not Ray is running already

    def connect(self, ray: Any) -> bool:
        """Join or start the cluster; True when this call started Ray (and so stops it after)."""
        if ray.is_initialized():
            return False
        import logging

        quiet = {"include_dashboard": False, "logging_level": logging.WARNING}
        kind, _, count = self.address.partition(":")
        try:
            if kind == "local":
                ray.init(num_cpus=_cpus(count) if count else None, **quiet)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InterpError(
                f"cannot reach a Ray cluster at {self.address!r} ({first})",
                fix="start one with `ray start --head` and pass --ray auto, or pass --ray local",
            ) from err
        return True


def import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise InterpError(
            "--ray needs Ray, which is not installed", fix="pip install 'interp[ray]'"
        ) from err
    return ray


def executor_for(address: str | None, gpus_per_unit: float = 0.0) -> Executor:
    """The executor the command line asks for: Ray when given an address, else this process."""
    if address is None:
        return Sequential()
    cluster = RayCluster(address, gpus_per_unit=gpus_per_unit)
    cluster.connect(
        import_ray()
    )  # a missing Ray or an unreachable cluster is said before any model
    return cluster  # time; Ray stops a local cluster when this process exits


# ---- on the worker -------------------------------------------------------------------------------

_last_loaded: dict[tuple[str, str], Model] = {}


def _worker_models(config: LoadsModels, spec: str) -> Model:
    """A model loaded in this worker process; the last one is kept, since a worker usually runs
    several units of the same study (a transfer grid's points all score the one target). Units
    that change the weights they are given (noise, fine-tuning) load their models themselves."""
    key = (spec, repr((config.dtype, config.device_map)))
    if key not in _last_loaded:
        _last_loaded.clear()  # one at a time: an audit's suspects would otherwise pile up
        _last_loaded[key] = load_study_model(config, spec)
    return _last_loaded[key]


def _run_on_worker(work: Callable[..., Any], *inputs: Any) -> Any:
    return work(_worker_models, *inputs)


# ---- helpers ---------------------------------------------------------------------------------------


def _result(ray: Any, ref: Any, unit: Unit) -> Any:
    """A task's result; a unit that failed on bad input fails the study with its own one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, InterpError):
            raise InterpError(f"unit {unit.name}: {cause.problem}", fix=cause.fix) from err
        raise


def _resources(ray: Any) -> str:
    total = ray.cluster_resources()
    nodes = len([n for n in ray.nodes() if n.get("Alive")])
    gpus = f", {total['GPU']:g} GPUs" if total.get("GPU") else ""
    return f"{nodes} node{'s' if nodes != 1 else ''}, {total.get('CPU', 0):g} CPUs{gpus}"


def _cpus(count: str) -> int:
    if not count.isdigit() or int(count) < 1:
        raise InterpError(
            f"--ray local:{count}: the CPU count must be a whole number of at least 1",
            fix="e.g. --ray local:4, or --ray local for all of this machine's CPUs",
        )
    return int(count)


def _never() -> Any:
    raise AssertionError("a checkpointed unit is read back, never computed")


def _silent(message: str) -> None:
    pass


def printer(enabled: bool) -> Log:
    """Progress lines on stderr, or nothing."""

    def log(message: str) -> None:
        if enabled:
            print(message, file=sys.stderr, flush=True)

    return log
