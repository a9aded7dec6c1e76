"""Where the engine gets its array module: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every engine module asks this file for its array module instead of importing one, so the
same hand-written forward and backward passes run on either device. NumPy is the default
and CuPy is imported only when the GPU is asked for.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

DEVICES = ("cpu", "gpu")  # where the engine runs: TrainConfig.device is one of them
ONE_HOT_MAX_ROWS = 128  # scatter_add_rows: up to this many rows (a vocabulary), or up to C, one one-hot product


class DeviceError(RuntimeError):
    """The requested device cannot be used (CuPy missing, no GPU visible)."""


def array_module(x) -> ModuleType:
    """The module that owns array `x`: cupy for a CuPy array, numpy for anything else."""
    if type(x) is np.ndarray:  # the common case, first: this runs dozens of times a step
        return np
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def get_backend(device: str = "cpu") -> ModuleType:
    """The array module for `device` ("cpu" or "gpu"); a clear DeviceError if it is not usable."""
    if device == "cpu":
        return np
    if device != "gpu":
        raise DeviceError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    try:
        import cupy
    except ImportError:
        raise DeviceError(
            "the GPU needs CuPy, which is not installed: "
            "pip install 'tfnp[gpu]' (CuPy 14.2 or later for CUDA 12; use 'cupy-cuda13x>=14.2' for CUDA 13)"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken: CuPy raises its own error types
        raise DeviceError(f"CuPy is installed but no GPU is usable: {err}") from None
    if count < 1:
        raise DeviceError("CuPy is installed but no GPU is visible")
    return cupy


def to_numpy(x) -> np.ndarray:
    """A NumPy copy of `x` on the host (a no-op for arrays already there)."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def scatter_add_rows(index, rows, n_rows: int, ws=None):
    """out[i] = sum of rows[j] over every j with index[j] == i; out has n_rows rows.

    index (N,) int, rows (N, C) -> (n_rows, C). This is the embedding's backward pass: a
    token used several times collects the gradient of every place it was used. On the CPU,
    where uses_one_hot(n_rows, C), it is one product: with onehot (n_rows, N) the matrix that
    has a 1 in row index[j] of each column j,
        out = onehot @ rows                      (n_rows, N) @ (N, C)
    (the embedding is x = onehot^T @ embed, and this is that product's weight gradient, as
    in a linear layer). Otherwise the rows are sorted by index and each run summed with one
    `add.reduceat`. On the GPU CuPy's atomic scatter-add does it in place. A row that is not
    finite spoils every row of out in the product (0 * inf is NaN), only its token's row in
    the other two ways: a step with such a gradient is refused either way (training/figures.py).
    ws: a Workspace (runtime/workspace.py) for out, the one-hot matrix and the sorted rows;
    None: fresh arrays.
    """
    xp = array_module(rows)
    N, C = rows.shape
    if xp is not np:
        import cupyx

        out = xp.zeros((n_rows, C), rows.dtype)
        cupyx.scatter_add(out, index, rows)
        return out
    if uses_one_hot(n_rows, C):
        onehot = (ws or np).zeros((n_rows, N), rows.dtype)  # (n_rows, N)
        onehot[index, np.arange(N)] = 1.0
        return np.matmul(onehot, rows, out=ws and ws.empty((n_rows, C), rows.dtype))  # (n_rows, C)
    out = (ws or np).zeros((n_rows, C), rows.dtype)
    order = np.argsort(index, kind="stable")  # (N,) rows grouped by token
    sorted_index = index[order]
    first = np.empty(N, dtype=bool)  # True where a run of equal tokens begins
    first[:1] = True
    np.not_equal(sorted_index[1:], sorted_index[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sorted_rows = rows.take(order, axis=0, mode="wrap", out=ws and ws.empty(rows.shape, rows.dtype))  # rows[order]
    out[sorted_index[starts]] = np.add.reduceat(sorted_rows, starts, axis=0)
    return out


def uses_one_hot(n_rows: int, width: int) -> bool:
    """Whether scatter_add_rows sums into n_rows rows of `width` entries with a one-hot product
    on the CPU. The product does n_rows multiply-adds for each entry of rows, the sort about
    one and its share of sorting; BLAS makes up for that while n_rows is small, and more so
    the wider the rows. Measured on a 2-core x86_64 (benchmarks/README.md): the product is 1.7
    to 3 times as fast up to 128 rows (widths 32 to 256), and 1.5 times up to as many rows as
    the width (256 of 256, 512 of 512); the sort is as fast or faster at 256 rows of 32 or 64
    and at 512 rows of 64 or 256."""
    return n_rows <= max(ONE_HOT_MAX_ROWS, width)
