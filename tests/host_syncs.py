"""Counting the operations that make the host wait for the device, on any device.

On CUDA these stall the CPU until the GPU catches up and cannot run inside a CUDA graph: reading
a value back (`.item()`, `bool(t)`, `.tolist()`), an output whose size depends on the data
(boolean indexing, `nonzero`, `masked_select`), a tensor made from host data (`torch.tensor`,
`torch.as_tensor`, which copies host memory to the device) and copies between devices. Counted
at the dispatcher, so the count is the same on a CPU, where none of them costs anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Reads of a device value by the host, and ops whose output size the host must read back.
_ALWAYS = {
    aten._local_scalar_dense.default,
    aten.is_nonzero.default,
    aten.item.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten.lift_fresh.default,  # a tensor from host data: a host-to-device copy on a GPU
}


def _devices(args, kwargs) -> set[torch.device]:
    found = set()
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.add(value.device)
    return found


class HostSyncCounter(TorchDispatchMode):
    """Counts host-waiting ops by name while active (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = None
        if func in _ALWAYS:
            name = str(func)
        elif func is aten.index.Tensor:  # a boolean index has a data-dependent size
            if any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool
                for i in args[1]
                if i is not None
            ):
                name = "aten.index.Tensor(bool)"
        elif func in (aten._to_copy.default, aten.copy_.default):
            target = kwargs.get("device")
            devices = _devices(args, kwargs) | ({torch.device(target)} if target else set())
            if len({d.type for d in devices}) > 1:
                name = f"{func} across devices"
        if name is not None:
            self.counts[name] += 1
        return func(*args, **kwargs)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@contextmanager
def counting_host_syncs() -> Iterator[HostSyncCounter]:
    with HostSyncCounter() as counter:
        yield counter
