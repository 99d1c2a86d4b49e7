"""Keeping a long-running process's memory flat on glibc (Linux): freed memory handed back to the
operating system, and fewer malloc arenas.

Streams that come and go (a service steered through its API) each bring a decoder and threads of
their own. glibc gives threads separate malloc arenas and keeps freed memory in them, so the
resident size of such a process creeps up although nothing leaks (measured: about 1 MiB per
stream joining and leaving with the default 8 arenas per core; flat after a few streams with 2
arenas and a trim when a stream leaves). Elsewhere (musl, macOS, Windows) these do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the most malloc arenas (``MALLOC_ARENA_MAX``)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def trim() -> bool:
    """Hand freed heap memory back to the operating system (glibc ``malloc_trim(0)``); True when
    glibc did so."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def limit_arenas(count: int = 2) -> bool:
    """Let glibc create at most ``count`` malloc arenas from now on (as ``MALLOC_ARENA_MAX``
    does, which, when set, wins); call it early, before threads start. True when applied."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    libc = _glibc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, count))
