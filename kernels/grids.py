"""Which grid the steering and capture kernels launch, where they have two.

Two-pass steering (`steer_persistent`) and capture with directions (`capture_persistent`) run on
a persistent grid: a few programs per SM that loop over row blocks. The grid of one program per
row block stays available, so a benchmark can time both on the same GPU:

    with use_persistent_grids(False):
        steer_ablate(h, V)          # one program per row block

A launcher's own `persistent=` argument, where given, wins over this setting.
"""

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["persistent_grids", "use_persistent_grids"]

_persistent = True


def persistent_grids() -> bool:
    """Whether launchers pick the persistent grid where they have one (the default)."""
    return _persistent


@contextmanager
def use_persistent_grids(enabled: bool) -> Iterator[None]:
    """Within the block, launchers pick the persistent grid where they have one iff `enabled`."""
    global _persistent
    before, _persistent = _persistent, bool(enabled)
    try:
        yield
    finally:
        _persistent = before
