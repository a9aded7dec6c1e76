"""Where the engine gets its array module: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every engine module asks this file for its array module instead of importing one, so the
same hand-written forward and backward passes run on either device. NumPy is the default
and CuPy is imported only when the GPU is asked for.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

DEVICES = ("cpu", "gpu")  # where the engine runs: TrainConfig.device is one of them
ONE_HOT_MAX_ROWS = 512  # scatter_add_rows: up to this many rows (a vocabulary), one product with a one-hot matrix


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
    for up to ONE_HOT_MAX_ROWS rows (every vocabulary of the tasks here), it is one product:
    with onehot (n_rows, N) the matrix that has a 1 in row index[j] of each column j,
        out = onehot @ rows                      (n_rows, N) @ (N, C)
    (the embedding is x = onehot^T @ embed, and this is that product's weight gradient, as
    in a linear layer). BLAS makes it the fastest form by far while n_rows is small; past
    that, the rows are sorted by index and each run summed with one `add.reduceat`, which
    costs the same whatever n_rows. On the GPU CuPy's atomic scatter-add does it in place.
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
    if n_rows <= ONE_HOT_MAX_ROWS:
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
