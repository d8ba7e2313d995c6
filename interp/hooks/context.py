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
from interp.models.attention_heads import HeadSite, add_head_hook

if TYPE_CHECKING:
    from interp.models.model import Model

HookFn = Callable[[Tensor], Tensor | None]


@contextmanager
def hooked(
    model: Model, fns: Mapping[str | HookPoint, HookFn] | Iterable[tuple[str | HookPoint, HookFn]]
) -> Iterator[None]:
    """Run `model` with hook functions at the named points; all are removed on exit.

    A function returns None to leave the activation as it is, or a tensor to replace it.

    >>> import interp, torch
    >>> model = interp.load_model("organism:add-small")
    >>> seen = {}
    >>> with interp.hooked(model, {"blocks.0.hook_resid_post": lambda h: seen.update(h=h)}):
    ...     _ = model.forward(torch.tensor([[1, 20, 21]]))
    >>> seen["h"].shape
    torch.Size([1, 3, 64])
    """
    pairs = list(fns.items()) if isinstance(fns, Mapping) else list(fns)
    points = [(parse_hook(name, model.n_layers), fn) for name, fn in pairs]
    # Resolve everything first: a bad name fails before any hook is attached.
    sites = [
        (_head_site(model, p) if _on_heads(model, p) else resolve(model, p), fn) for p, fn in points
    ]
    handles = []
    try:
        for site, fn in sites:
            handles.append(
                add_head_hook(site, fn) if isinstance(site, HeadSite) else _register(site, fn)
            )
        yield
    finally:
        for handle in handles:
            handle.remove()


def _on_heads(model: Model, point: HookPoint) -> bool:
    """Head-level points on the hf backend go through the attention wrapper; on the bridge they
    are TransformerLens' own hook points."""
    return point.is_head and model.backend == "hf"


def _head_site(model: Model, point: HookPoint) -> HeadSite:
    from interp.hooks.heads import site_of

    return site_of(model, point)


def _register(site: Site, fn: HookFn) -> Any:
    if site.adapt is not None:
        fn = site.adapt(fn)
    if site.scale != 1.0:
        fn = _scaled(fn, site.scale)
    if site.copy:
        fn = _copied(fn)
    if site.side == "output":
        return site.module.register_forward_hook(_output_hook(fn))
    return site.module.register_forward_pre_hook(_input_hook(fn), with_kwargs=True)


def _scaled(fn: HookFn, scale: float) -> HookFn:
    """The block adds `output * scale`: hook functions see that, and their replacement r is
    written back as r / scale so the block adds r."""

    def scaled(h: Tensor) -> Tensor | None:
        replaced = fn(h * scale)
        return None if replaced is None else replaced / scale

    return scaled


def _copied(fn: HookFn) -> HookFn:
    """The block edits this tensor in place after the hook: give it a copy, so the tensor the hook
    function saw (and may have kept) stays as it was read."""

    def copied(h: Tensor) -> Tensor:
        replaced = fn(h)
        return (h if replaced is None else replaced).clone()

    return copied


def _output_hook(fn: HookFn) -> Callable[..., Any]:
    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        # Some blocks return (hidden, attention weights), a few older ones a list.
        if isinstance(output, (tuple, list)):
            replaced = fn(output[0])
            return None if replaced is None else type(output)([replaced, *output[1:]])
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
    """How many forward hooks and pre-hooks interp has attached anywhere in `module`.

    Only interp's own (made in this module): transformers installs permanent output-capturing
    hooks the first time hidden states are asked for, and the bridge wires its own, and neither
    is a hook interp forgot to remove.
    """
    return sum(
        getattr(hook, "__module__", None) == __name__
        for m in module.modules()
        for hook in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    )
