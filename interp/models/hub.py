"""Hub ids: load from the local cache, or from the hub when it is reachable, and fail fast when not.

Offline, `from_pretrained` can spend minutes retrying; interp checks first and says so in one line.
"""

from __future__ import annotations

import os
import socket

from interp.errors import InterpError

HUB_HOST = "huggingface.co"


def hub_is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """One TCP connection attempt to the hub, bounded by `timeout_s`."""
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def require_hub(name: str) -> None:
    """Raise at once if `name` would have to be downloaded and the hub cannot be reached."""
    if hub_is_offline():
        raise InterpError(
            f"{name!r} is not a local path and is not in the Hugging Face cache, and HF_HUB_OFFLINE is set",
            fix="pass a local model directory or a llama2.c .bin checkpoint, or unset HF_HUB_OFFLINE on a machine with internet",
        )
    if not hub_reachable():
        raise InterpError(
            f"{name!r} is not a local path and the Hugging Face hub is unreachable from this machine",
            fix="pass a local model directory or a llama2.c .bin checkpoint, or download the model where the hub is reachable",
        )
