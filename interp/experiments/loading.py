"""How a study loads its models: precision and placement, named in its config and checked there.

A study config may set `"dtype"` ("float32", "bfloat16", "float16"; default bfloat16 on CUDA and
float32 on a CPU) and `"device_map"` ("auto" or a JSON object from module name to device) for every
model it loads. Statistics are computed in float32 whatever the weights' dtype.
"""

from __future__ import annotations

from typing import Any, Protocol

from interp.errors import InterpError
from interp.models.load import DTYPES, load_model
from interp.models.model import Model


class LoadsModels(Protocol):
    @property
    def dtype(self) -> str | None: ...

    @property
    def device_map(self) -> str | dict[str, Any] | None: ...


def check_loading(config: LoadsModels, where: str) -> None:
    if config.dtype is not None and config.dtype not in DTYPES:
        raise InterpError(
            f"{where}: dtype {config.dtype!r} is not one of {', '.join(DTYPES)}",
            fix="pick one, or leave it out for the device's default",
        )
    if config.device_map is not None and not isinstance(config.device_map, str | dict):
        raise InterpError(
            f'{where}: device_map must be "auto" or an object from module name to device',
            fix='e.g. "device_map": "auto"',
        )


def load_study_model(config: LoadsModels, spec: str) -> Model:
    """`spec` loaded as the study's config asks."""
    return load_model(spec, dtype=config.dtype, device_map=config.device_map)
