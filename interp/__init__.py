"""interp: activation analysis for transformer language models.

Load a model, read its activations, and (in the modules built on these) find directions, move them
between models, steer, and probe::

    import interp
    model = interp.load_model("organism:add-small")      # HF dir, .gguf, llama2.c .bin, organism:NAME
    got = interp.capture_activations(model, ["Q:1+2+3+4=?\\nA:"], hooks="resid_post")
    got.activations["blocks.1.hook_resid_post"].shape    # torch.Size([1, 64])

Every name below is imported lazily on first use, so `import interp` (and `import interp.kernels`,
which needs only torch and triton) stays cheap. No exported name is the name of a subpackage or
module of interp, so what `interp.NAME` is never depends on what was imported before: a subpackage
(`interp.capture`, `interp.steer`, ...) is always the module, an exported name always the function
or class of `_EXPORTS`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Exported name -> "module" (the name is the module's attribute of the same name) or
# "module:attribute" where the public name differs from the one inside the package.
_EXPORTS: dict[str, str] = {
    "InterpError": "interp.errors",
    "Model": "interp.models.model",
    "load_model": "interp.models.load",
    "with_backend": "interp.models.load",
    "tiny_model": "interp.models.tiny",
    "HookPoint": "interp.hooks.names",
    "expand_hooks": "interp.hooks.names",
    "all_hook_names": "interp.hooks.names",
    "hooked": "interp.hooks.context",
    "Item": "interp.capture.items",
    "read_items": "interp.capture.items",
    "capture_activations": "interp.capture.run:capture",
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
    "all_hook_names",
    "capture_activations",
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
    from interp.capture.run import Captured
    from interp.capture.run import capture as capture_activations
    from interp.errors import InterpError
    from interp.hooks.context import hooked
    from interp.hooks.names import HookPoint, all_hook_names, expand_hooks
    from interp.models.generate import Generation, generate
    from interp.models.load import load_model, with_backend
    from interp.models.model import Model
    from interp.models.tiny import tiny_model
    from interp.store.reader import ActivationReader


def _home(name: str) -> tuple[str, str]:
    """(module, attribute) that the exported `name` comes from."""
    module, _, attribute = _EXPORTS[name].partition(":")
    return module, attribute or name


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attribute = _home(name)
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # A subpackage or module: what `import interp.NAME` binds here, whatever came first.
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
