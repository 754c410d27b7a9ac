"""Run-time configuration in one place: cache folder, data folder, Numba flags.

Environment variables (all optional):

- ``NETDOSE_CACHE_DIR``: where generated dose kernels are cached (default: the user cache
  folder from platformdirs, e.g. ``~/.cache/netdose``).
- ``NETDOSE_DATA_DIR``: where the PRRT therapy database lives by default (default: the user
  data folder, e.g. ``~/.local/share/netdose``).
- ``NUMBA_NUM_THREADS``: threads for the Numba kernels (Numba's own variable).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["NUMBA_FLAGS", "NUMBA_PARALLEL_FLAGS", "cache_dir", "data_dir", "thread_count"]

#: Flags of every serial ``@njit`` in netdose (one place, as in stumpy's config).
NUMBA_FLAGS: dict[str, Any] = {"cache": True, "fastmath": False, "nogil": True}
#: Flags of every parallel driver ``@njit(parallel=True)``.
NUMBA_PARALLEL_FLAGS: dict[str, Any] = {**NUMBA_FLAGS, "parallel": True}


def cache_dir() -> Path:
    """Folder for cached kernels (created on first use by the code that writes there)."""
    env = os.environ.get("NETDOSE_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("netdose", appauthor=False))


def data_dir() -> Path:
    """Folder for user data such as the default PRRT therapy database."""
    env = os.environ.get("NETDOSE_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("netdose", appauthor=False))


def thread_count() -> int:
    """Threads Numba kernels will use."""
    import numba

    return int(numba.get_num_threads())
