"""Building the kernels for Triton's compiler or its interpreter, whichever a launch needs.

Triton fixes what `@triton.jit` builds (a compiled kernel, or an interpreted Python function) when
a function is decorated, from TRITON_INTERPRET as it is at that moment. The kernels here are built
at their first launch instead (`lazy_jit`), once per mode, so one process can hold both builds and
the variable may be set after `interp.kernels` (or triton) was imported: a test folder's conftest
runs after other folders imported everything.

What a launch in either mode needs besides the kernel's own build:

- The device functions it calls must be of the same kind. Triton's standard library (`tl.sum`,
  `tl.zeros`, ...) and this package's helpers (`tiles.py`) are built when their module is imported.
  An interpreted launch lends the interpreter interpreted copies of those that were compiled
  (`interpreted_device_functions`); a compiled launch in a process that imported triton with
  TRITON_INTERPRET=1 lends the compiler compiled copies (`compiled_device_functions`, also used by
  the tests that compile every launch for sm_90).
- Triton 3.6's interpreter turns a scalar into a loop bound with `int(array)`, which numpy 2
  refuses for the one-element 1-D arrays it holds scalars in; an interpreted launch converts them
  with `.item()` instead (`_scalar_index`), as later tritons do.

Everything here is a no-op for a compiled launch in the usual process (TRITON_INTERPRET unset when
triton was imported): the GPU hot path returns Triton's own launcher.
"""

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

try:
    import triton
    import triton.language as tl

    HAS_TRITON = True
except ImportError:  # pragma: no cover - exercised by a subprocess test that hides triton
    # Stand-ins so the kernel files still define (never run) their kernels: annotations such as
    # `BLOCK: tl.constexpr` and constants such as `tl.constexpr(0)` are evaluated at import.
    triton = None  # type: ignore[assignment]
    tl = SimpleNamespace(constexpr=int)  # type: ignore[assignment]
    HAS_TRITON = False

__all__ = [
    "HAS_TRITON",
    "LazyKernel",
    "compiled_device_functions",
    "device_function",
    "interpreted_device_functions",
    "interpreting",
    "lazy_jit",
    "tl",
    "triton",
]

# The package whose modules may hold device functions (`kernels.tiles` installs as
# `interp.kernels.tiles`, or loads under another name from a checkout).
_PACKAGE = __name__.rpartition(".")[0]


def interpreting() -> bool:
    """Whether Triton would build kernels for its CPU interpreter now (TRITON_INTERPRET=1)."""
    if not HAS_TRITON:
        return False
    knobs = getattr(triton, "knobs", None)  # triton >= 3.4 reads the variable through knobs
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def device_function(fn: Callable[..., Any]) -> Any:
    """Decorator for a `@triton.jit` helper that kernels call (built at import, like Triton's own
    standard library; a launch lends it in the form it needs). Without triton: `fn` itself."""
    return triton.jit(fn) if HAS_TRITON else fn


class LazyKernel:
    """A `@triton.jit` kernel built at its first launch in each mode rather than at import.

    `launches` counts launches, so tests can check which path ran; `built_for_interpreter()`
    says which build the current mode uses.
    """

    def __init__(self, fn: Callable[..., None]) -> None:
        self.fn = fn
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self._built: dict[bool, Any] = {}
        self._lend_compiled: bool | None = None  # whether compiled launches need lent copies
        self.launches = 0

    def __getitem__(self, grid: tuple[int, ...]) -> Callable[..., Any]:
        mode = interpreting()
        kernel = self._built.get(mode)
        if kernel is None:
            kernel = self._built[mode] = triton.jit(self.fn)
        self.launches += 1
        launcher = kernel[grid]
        if not mode:
            if self._lend_compiled is None:
                self._lend_compiled = _has_interpreted_device_functions()
            if not self._lend_compiled:
                return launcher  # the usual case: nothing between the caller and Triton

            def launch_compiled(*args: Any, **kwargs: Any) -> Any:
                with compiled_device_functions():
                    return launcher(*args, **kwargs)

            return launch_compiled

        def launch_interpreted(*args: Any, **kwargs: Any) -> Any:
            with interpreted_device_functions(), _scalar_index():
                return launcher(*args, **kwargs)

        return launch_interpreted

    def built_for_interpreter(self) -> bool:
        """Whether the build in use now is Triton's interpreter (False before the first launch)."""
        kernel = self._built.get(interpreting())
        return kernel is not None and type(kernel).__name__ == "InterpretedFunction"


def lazy_jit(fn: Callable[..., None]) -> LazyKernel:
    """Decorator: `@lazy_jit` in place of `@triton.jit` (see `LazyKernel`)."""
    return LazyKernel(fn)


# ----------------------------------------------------------------------------------------------
# Device functions of the right kind for a launch
# ----------------------------------------------------------------------------------------------


def _triton_language_modules() -> list[ModuleType]:
    """`triton.language` and its submodules (`standard` holds `tl.sum`'s helpers, ...)."""
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None and (name == "triton.language" or name.startswith("triton.language."))
    ]


def _helper_modules() -> list[ModuleType]:
    """The loaded modules of this package (`tiles`, `steer_passes`, the kernel's own, ...): where
    device functions that kernels call, and that call each other, are looked up."""
    prefix = _PACKAGE + "."
    return [m for name, m in list(sys.modules.items()) if m is not None and name.startswith(prefix)]


def _interpreted_function_type() -> Any:
    try:
        from triton.runtime.interpreter import InterpretedFunction
    except ImportError:  # pragma: no cover - a triton without an interpreter
        return None
    return InterpretedFunction


def _has_interpreted_device_functions() -> bool:
    interpreted = _interpreted_function_type()
    if interpreted is None:
        return False
    modules = _triton_language_modules() + _helper_modules()
    return any(isinstance(v, interpreted) for m in modules for v in vars(m).values())


_COMPILED_COPIES: dict[int, Any] = {}
_INTERPRETED_COPIES: dict[int, "_InterpretedCopy"] = {}


@contextmanager
def _swapped(replacements: dict[tuple[ModuleType, str], Any]) -> Iterator[None]:
    """Set module attributes for the duration of the block, then put the originals back."""
    originals = {key: getattr(key[0], key[1]) for key in replacements}
    for (module, name), value in replacements.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in originals.items():
            setattr(module, name, value)


@contextmanager
def compiled_device_functions() -> Iterator[None]:
    """Lend the compiler compiled copies of the device functions (Triton's and this package's)
    that were built for the interpreter, in a process that imported triton with
    TRITON_INTERPRET=1. Compiling a kernel that calls an interpreted `tl.zeros` fails on triton 3.6
    (the interpreter's patches leak into the code generator). Elsewhere this changes nothing."""
    if not HAS_TRITON:
        yield
        return
    from triton.runtime.jit import JITFunction

    interpreted = _interpreted_function_type()
    replacements: dict[tuple[ModuleType, str], Any] = {}
    if interpreted is not None:
        for module in _triton_language_modules() + _helper_modules():
            for name, value in vars(module).items():
                if isinstance(value, interpreted):
                    copy = _COMPILED_COPIES.get(id(value.fn))
                    if copy is None or copy.fn is not value.fn:
                        copy = JITFunction(value.fn, **getattr(value, "kwargs", {}))
                        _COMPILED_COPIES[id(value.fn)] = copy
                    replacements[(module, name)] = copy
    with _swapped(replacements):
        yield


class _InterpretedCopy:
    """An interpreted copy of a compiled device function (`tl.sum`, a `tiles` helper, ...).

    Calls it as the interpreter calls a device function, except that the interpreter's patches
    of `triton.language` made for the call are undone afterwards (Triton's own device-function
    call leaves them in place, which breaks compiling real kernels later in the same process).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        from triton.runtime.interpreter import InterpretedFunction

        self.fn = fn
        self._interpreted = InterpretedFunction(fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            from triton.runtime.interpreter import _patch_lang
        except ImportError:  # pragma: no cover - another triton: its own (leaky) call
            return self._interpreted(*args, **kwargs)
        scope = _patch_lang(self.fn)
        try:
            return self._interpreted.rewrite()(*args, **kwargs)
        finally:
            scope.restore()


@contextmanager
def interpreted_device_functions() -> Iterator[None]:
    """Lend the interpreter, for one launch, interpreted copies of the device functions.

    Triton's standard library (`tl.sum`, `tl.zeros`, `tl.cdiv`, ...) and this package's helpers
    are `@triton.jit` functions built when their module was imported: compiled unless
    TRITON_INTERPRET=1 was set by then, and the interpreter cannot call a compiled one. Each is
    swapped for an `_InterpretedCopy` (whose call also undoes the interpreter's patches, which
    Triton's own interpreted device-function call leaves in place) and restored afterwards, as the
    interpreter does with the builtins it patches itself.
    """
    from triton.runtime.jit import JITFunction

    interpreted = _interpreted_function_type()
    kinds: Any = (JITFunction,) + ((interpreted,) if interpreted else ())
    replacements: dict[tuple[ModuleType, str], Any] = {}
    for module in _triton_language_modules() + _helper_modules():
        for name, value in vars(module).items():
            if isinstance(value, kinds):
                copy = _INTERPRETED_COPIES.get(id(value.fn))
                if copy is None or copy.fn is not value.fn:
                    copy = _INTERPRETED_COPIES[id(value.fn)] = _InterpretedCopy(value.fn)
                replacements[(module, name)] = copy
    with _swapped(replacements):
        yield


@contextmanager
def _scalar_index() -> Iterator[None]:
    """Make the interpreter convert scalar tensors to Python ints with `.item()`.

    Triton 3.6's interpreter gives `tl.tensor` an `__index__` of `int(self.handle.data)`, and holds
    a scalar (a program id, an integer argument) as a one-element 1-D numpy array; numpy 2 refuses
    `int()` of such an array, so every `range(lo, hi, STEP)` with a runtime bound failed. Later
    tritons squeeze the array first; this does the same on any version, for one launch.
    """
    try:
        from triton.runtime import interpreter
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(interpreter, "_patch_lang_tensor", None)
    if original is None:  # pragma: no cover - another triton: its own conversion
        yield
        return

    def patch_lang_tensor(tensor: Any, scope: Any, *rest: Any, **kwargs: Any) -> Any:
        result = original(tensor, scope, *rest, **kwargs)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))
        return result

    with _swapped({(interpreter, "_patch_lang_tensor"): patch_lang_tensor}):
        yield
