"""Context managers that add forward hooks and always remove them, even when the forward raises.

A hook function receives the activation at its hook point, a tensor `(batch, pos, d_model)`, and
returns None to leave it alone or a tensor to replace it. Modules that return tuples, or take the
activation as a keyword argument, are handled here so hook functions never see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from interp.hooks.names import HookPoint, parse_hook
from interp.hooks.resolve import Site, resolve

if TYPE_CHECKING:
    from interp.models.model import Model

HookFn = Callable[[Tensor], Tensor | None]


@contextmanager
def hooked(
    model: Model, fns: Mapping[str | HookPoint, HookFn] | Iterable[tuple[str | HookPoint, HookFn]]
) -> Iterator[None]:
    """Run `model` with hook functions at the named points; all are removed on exit.

    >>> seen = {}
    >>> with hooked(model, {"blocks.0.hook_resid_post": lambda h: seen.setdefault("h", h)}):  # doctest: +SKIP
    ...     model.forward(input_ids)
    """
    pairs = list(fns.items()) if isinstance(fns, Mapping) else list(fns)
    sites = [(resolve(model, parse_hook(name, model.n_layers)), fn) for name, fn in pairs]
    handles = []
    try:
        for site, fn in sites:
            handles.append(_register(site, fn))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _register(site: Site, fn: HookFn) -> Any:
    if site.side == "output":
        return site.module.register_forward_hook(_output_hook(fn))
    return site.module.register_forward_pre_hook(_input_hook(fn), with_kwargs=True)


def _output_hook(fn: HookFn) -> Callable[..., Any]:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            replaced = fn(output[0])
            return None if replaced is None else (replaced, *output[1:])
        return fn(output)

    return hook


def _input_hook(fn: HookFn) -> Callable[..., Any]:
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> Any:
        if args:
            replaced = fn(args[0])
            return None if replaced is None else ((replaced, *args[1:]), kwargs)
        replaced = fn(kwargs["hidden_states"])
        return None if replaced is None else (args, {**kwargs, "hidden_states": replaced})

    return hook


def count_hooks(module: nn.Module) -> int:
    """How many forward hooks and pre-hooks are attached anywhere in `module`."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())
