"""Linear layer y = x @ w + b over the last axis, run as one 2-D GEMM over every position.

Legend: N = number of positions (B*T), I = input width, O = output width.
"""

from __future__ import annotations

from typing import NamedTuple


class LinearCache(NamedTuple):
    x2d: object  # (N, I) the input, flattened over positions: dw = x^T dy
    w: object  # (I, O) the weight: dx = dy w^T


def forward(x, w, b):
    """x (..., I), w (I, O), b (O,) -> y (..., O), cache."""
    x2d = x.reshape(-1, x.shape[-1])  # (N, I)
    y = x2d @ w  # (N, O)
    y += b
    return y.reshape(*x.shape[:-1], w.shape[1]), LinearCache(x2d, w)


def backward(dy, cache: LinearCache):
    """dy (..., O) -> dx (..., I), {"w": dw (I, O), "b": db (O,)}."""
    dy2d = dy.reshape(-1, dy.shape[-1])  # (N, O)
    dx = dy2d @ cache.w.T  # (N, I)
    dw = cache.x2d.T @ dy2d  # (I, O)
    db = dy2d.sum(axis=0)  # (O,)
    return dx.reshape(*dy.shape[:-1], cache.w.shape[0]), {"w": dw, "b": db}
