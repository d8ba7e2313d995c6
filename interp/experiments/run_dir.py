"""A study's run directory: written whole at the end, checkpointed unit by unit on the way.

A study works in a hidden sibling, `.NAME.partial/`, that holds its `config.json` and one checkpoint
per finished unit of work (a suspect of an audit, a grid point of a transfer study) in `units/`.
`finish` removes the checkpoints and renames the sibling to `NAME` in one step, so `NAME` never holds
half a run. A killed study leaves the sibling behind; run it again with `resume=True` (the command
line's `--resume`) and the same config, and the finished units are read back instead of recomputed.

    run = RunDir.open(out, config.to_dict(), resume=args.resume)
    suspect = run.unit(f"suspect-{name}", lambda: audit_one(name))   # computed once, ever
    atomic_write_json(run.path / "metrics.json", metrics)
    run.finish()
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.errors import InterpError
from interp.files import atomic_write_json
from interp.hashing import canonical

UNITS = "units"
CONFIG = "config.json"


@dataclass(frozen=True)
class RunDir:
    out: Path  # where the finished run appears
    path: Path  # where the run is written until then

    @classmethod
    def open(cls, out: str | Path, config: Mapping[str, Any], *, resume: bool = False) -> RunDir:
        """Start a run into `out`, or (with `resume`) continue an unfinished one of the same config."""
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InterpError(
                f"run directory {out} already exists and is not empty", fix="pass a new --out"
            )
        partial = out.with_name(f".{out.name}.partial")
        record = canonical(dict(config))
        if partial.exists():
            if not resume:
                raise InterpError(
                    f"an unfinished run into {out} is waiting in {partial}",
                    fix="pass --resume to continue it, or remove that directory to start over",
                )
            saved = _read_json(partial / CONFIG)
            if saved != record:
                changed = sorted(
                    k for k in set(saved) | set(record) if saved.get(k) != record.get(k)
                )
                raise InterpError(
                    f"the unfinished run in {partial} was started with another config "
                    f"(differs in {', '.join(changed)})",
                    fix="resume with the config it was started with, or remove that directory",
                )
        else:
            (partial / UNITS).mkdir(parents=True)
            atomic_write_json(partial / CONFIG, record)
        return cls(out, partial)

    def done(self, name: str) -> bool:
        return (self.path / UNITS / f"{name}.json").is_file()

    def unit(self, name: str, compute: Callable[[], Any]) -> Any:
        """The JSON-ready result of unit `name`: read back if an earlier attempt finished it, else
        computed now and checkpointed before it is returned."""
        checkpoint = self.path / UNITS / f"{name}.json"
        if checkpoint.is_file():
            return _read_json(checkpoint)["result"]
        return self.save(name, compute())

    def save(self, name: str, result: Any) -> Any:
        """Checkpoint `result` (computed elsewhere, say on a cluster) as unit `name`'s, and return it
        as it reads back."""
        # Stored as it reads back, so a resumed run sees exactly what a fresh one would.
        stored = canonical(result)
        atomic_write_json(self.path / UNITS / f"{name}.json", {"unit": name, "result": stored})
        return stored

    def finish(self) -> Path:
        """Drop the checkpoints and make the run appear at `out`, whole."""
        shutil.rmtree(self.path / UNITS, ignore_errors=True)
        if self.out.exists():
            self.out.rmdir()  # `open` allowed only an empty one
        self.path.rename(self.out)
        return self.out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InterpError(
            f"cannot read {path} ({err})", fix="remove the unfinished run directory and start over"
        ) from err
