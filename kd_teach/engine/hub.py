"""Online or offline? One place that decides, so every loader fails the same clear way."""
from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse


class OfflineAssetError(RuntimeError):
    """A model or data set is neither on disk nor reachable; the message says how to get it."""


def hub_offline_flag() -> bool:
    """True when the user asked for offline mode (``HF_HUB_OFFLINE=1`` or ``HF_DATASETS_OFFLINE=1``)."""
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(k, "").lower() in truthy for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """True if the Hugging Face Hub answers a TCP connection within ``timeout`` seconds.

    Honours ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT``. Checking once up front lets a run fail in
    one line instead of after transformers' five retries (about 25 s).
    """
    if hub_offline_flag():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False
