"""Read a study's JSON config file, with one clear message for a missing file or bad JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interp.errors import InterpError


def read_config_file(path: str | Path) -> Any:
    """The parsed contents of the JSON file given to `--config`."""
    path = Path(path)
    if not path.is_file():
        raise InterpError(
            f"config file {path} does not exist", fix="check the path given to --config"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InterpError(
            f"{path} is not valid JSON ({err.msg}, line {err.lineno})", fix="fix the file"
        ) from err
