"""Where the engine gets its array module: NumPy on the CPU, CuPy on an NVIDIA GPU.

Every engine module asks this file for its array module instead of importing one, so the
same hand-written forward and backward passes run on either device. NumPy is the default
and CuPy is imported only when the GPU is asked for.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

DEVICES = ("cpu", "gpu")  # where the engine runs: TrainConfig.device is one of them
ADD_AT_MAX = 1024  # scatter_add_rows: fewer entries than this are added with np.add.at, not sorted


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
    token used several times collects the gradient of every place it was used. On the CPU
    it sorts the rows by index and sums each run with one `add.reduceat` (deterministic, and
    twice as fast as `np.add.at` or more from a thousand entries on), or, for fewer entries
    than ADD_AT_MAX, where sorting costs more than it saves, adds them with `np.add.at`; on
    the GPU CuPy's atomic scatter-add does it in place.
    ws: a Workspace (runtime/workspace.py) for out and the sorted rows; None: fresh arrays.
    """
    xp = array_module(rows)
    out = (ws or xp).zeros((n_rows, rows.shape[1]), rows.dtype)
    if xp is not np:
        import cupyx

        cupyx.scatter_add(out, index, rows)
        return out
    if rows.size < ADD_AT_MAX:
        np.add.at(out, index, rows)  # row by row, in order: deterministic too
        return out
    order = np.argsort(index, kind="stable")  # (N,) rows grouped by token
    sorted_index = index[order]
    first = np.empty(len(index), dtype=bool)  # True where a run of equal tokens begins
    first[:1] = True
    np.not_equal(sorted_index[1:], sorted_index[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sorted_rows = rows.take(order, axis=0, mode="wrap", out=ws and ws.empty(rows.shape, rows.dtype))  # rows[order]
    out[sorted_index[starts]] = np.add.reduceat(sorted_rows, starts, axis=0)
    return out
