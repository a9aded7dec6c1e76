"""Batch-parallel NumPy: do independent work on chunks of the leading axis in a few threads.

NumPy releases the GIL inside its ufuncs and BLAS calls, so threads working on different
parts of an array really run at once. OpenBLAS already spreads one large matrix product over
every core, but not the many small products of batched attention (one per batch and head),
and NumPy's element-wise ufuncs use a single core: those are the calls split here.

Every chunk computes exactly what the whole would have for its rows (the splits fall between
independent matrices or rows), so results are bit-identical with or without threads. Small
arrays run inline: a round trip through the pool costs tens of microseconds. CuPy arrays
always run inline; the GPU is parallel already.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .backend import array_module

WORKERS = max(1, min(os.cpu_count() or 1, 8))
MIN_ELEMENTS = 1 << 17  # below this many elements in the largest array, run inline
_pool: ThreadPoolExecutor | None = None


def _chunks(n: int, parts: int) -> list[slice]:
    """`parts` slices of range(n), as equal as whole rows allow."""
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def over_batch(fn, *arrays, size: int | None = None) -> None:
    """fn(*chunks) for chunks of every array along axis 0 (the same rows of each), in threads.

    fn works in place (on views of the arrays) and returns nothing. `size`: the work's size
    in elements, to decide whether threads pay off (default: the first array's size)."""
    global _pool
    n = arrays[0].shape[0]
    big = (size or arrays[0].size) >= MIN_ELEMENTS and type(arrays[0]) is np.ndarray
    if not big or WORKERS == 1 or n < 2:
        fn(*arrays)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="tfnp-batch")
    futures = [_pool.submit(fn, *(a[s] for a in arrays)) for s in _chunks(n, min(WORKERS, n))]
    for future in futures:
        future.result()


def matmul(a, b, out=None):
    """a @ b for stacked matrices (B, ..., M, K) @ (B, ..., K, N), the batch split over threads.
    `out` may be a strided view: BLAS writes each matrix in place with its row stride."""
    xp = array_module(a)
    if out is None:
        out = xp.empty((*a.shape[:-1], b.shape[-1]), dtype=a.dtype)
    size = max(a.size, b.size, out.size)
    if size < MIN_ELEMENTS:  # the common small case, without the detour
        return xp.matmul(a, b, out=out)
    over_batch(_matmul_into, a, b, out, size=size)
    return out


def _matmul_into(a, b, out) -> None:
    array_module(a).matmul(a, b, out=out)
