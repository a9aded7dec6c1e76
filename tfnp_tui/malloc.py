"""keep_freed_memory: the command line's setting for the process's malloc (glibc), moved here
from the engine, which no longer needs it.

The engine's training pass reuses its own large arrays from step to step
(engine/runtime/workspace.py), so it page-faults nothing after its first step whatever malloc
does. The rest of a training step is what this still helps: the trainer's and the optimizer's
parameter-sized temporaries (the squares for the norms, the update), and evaluation's forward
passes, which take fresh arrays. tfnp-tui and the benchmarks call it once at start-up; a
program using the engine through its Python API has no need to.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the kernel.

    A training step allocates and frees the same large temporaries every time. By default glibc
    serves each from fresh pages (mmap) and returns them when freed, so the next step
    page-faults them in again, zeroed. This raises the mmap threshold to its maximum (32 MiB)
    and stops trimming the heap, so temporaries are reused. Process-wide. Returns False where it
    does not apply (not Linux with glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2**20)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))
