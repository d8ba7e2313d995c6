"""interp: activation analysis for transformer language models.

Load a model, read its activations, and (in the modules built on these) find directions, move them
between models, steer, and probe::

    import interp
    model = interp.load_model("path/to/model")                 # HF dir, llama2.c .bin, organism:NAME
    got = interp.capture(model, ["Once upon a time"], hooks="resid_post", positions="last")
    got.activations["blocks.0.hook_resid_post"]                # (1, d_model)

Names are imported lazily, so `import interp.kernels` needs only torch and triton.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "InterpError": "interp.errors",
    "Model": "interp.models.model",
    "load_model": "interp.models.load",
    "with_backend": "interp.models.load",
    "tiny_model": "interp.models.tiny",
    "HookPoint": "interp.hooks.names",
    "expand_hooks": "interp.hooks.names",
    "hooked": "interp.hooks.context",
    "Item": "interp.capture.items",
    "read_items": "interp.capture.items",
    "capture": "interp.capture.run",
    "Captured": "interp.capture.run",
    "ActivationReader": "interp.store.reader",
    "generate": "interp.models.generate",
    "Generation": "interp.models.generate",
}

__all__ = [
    "ActivationReader",
    "Captured",
    "Generation",
    "HookPoint",
    "InterpError",
    "Item",
    "Model",
    "capture",
    "expand_hooks",
    "generate",
    "hooked",
    "load_model",
    "read_items",
    "tiny_model",
    "with_backend",
    "__version__",
]

if TYPE_CHECKING:
    from interp.capture.items import Item, read_items
    from interp.capture.run import Captured, capture
    from interp.errors import InterpError
    from interp.hooks.context import hooked
    from interp.hooks.names import HookPoint, expand_hooks
    from interp.models.generate import Generation, generate
    from interp.models.load import load_model, with_backend
    from interp.models.model import Model
    from interp.models.tiny import tiny_model
    from interp.store.reader import ActivationReader


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'interp' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
