"""`--ray` and `--ray-gpus` for the studies whose units are independent (`interp transfer`,
`interp audit`): the same config runs its units here one after another or as Ray tasks."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # registering a command imports nothing of the study
    from interp.experiments.units import Executor


def add_ray_arguments(parser: argparse.ArgumentParser, units: str) -> None:
    group = parser.add_argument_group("on a Ray cluster (needs pip install 'interp[ray]')")
    group.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help=f"run the {units} as Ray tasks: 'auto' (the cluster `ray start` joined this machine "
        "to), a head's address (HOST:6379 or ray://HOST:10001), or 'local' / 'local:N' (a Ray "
        "started here with all or N CPUs); results and checkpoints are those of a run without it",
    )
    group.add_argument(
        "--ray-gpus",
        type=float,
        default=0.0,
        metavar="G",
        help="GPUs given to each Ray task (default 0; 1 on a GPU cluster gives each unit a device)",
    )


def executor_from(args: argparse.Namespace) -> Executor:
    from interp.experiments.units import executor_for

    return executor_for(args.ray, gpus_per_unit=args.ray_gpus)
