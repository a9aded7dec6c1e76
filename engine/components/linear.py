"""Linear layer y = x @ w + b over the last axis, run as one 2-D GEMM over every position.

Legend: N = number of positions (B*T), I = input width, O = output width.
ws: the training pass's Workspace, or None (components/__init__.py).

Where a block's output projection meets the residual stream, forward also takes the dropout
mask and the residual that follow it, y = (x @ w + b) * mask + residual, and applies the bias,
the mask and the sum in one fused pass (runtime/fused.py): one kernel on a GPU, not three.
"""

from __future__ import annotations

from typing import NamedTuple

from ..runtime.backend import array_module
from ..runtime.fused import fused


class LinearCache(NamedTuple):
    x2d: object  # (N, I) the input, flattened over positions: dw = x^T dy
    w: object  # (I, O) the weight: dx = dy w^T
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


@fused
def bias_mask_residual(xp):
    def kernel(y, b, mask, residual):  # y (..., O) = (y + b) * mask + residual, in place; mask, residual: None for none
        y += b
        if mask is not None:
            y *= mask
        if residual is not None:
            y += residual

    return kernel


def forward(x, w, b, ws=None, mask=None, residual=None):
    """x (..., I), w (I, O), b (O,) -> y (..., O), cache. mask and residual (..., O), if given:
    y = (x @ w + b) * mask + residual (the dropout and the residual after a block's output)."""
    xp = array_module(x)
    x2d = x.reshape(-1, x.shape[-1])  # (N, I)
    y = xp.matmul(x2d, w, out=ws and ws.empty((x2d.shape[0], w.shape[1]), x.dtype))  # (N, O) x @ w
    y = y.reshape(*x.shape[:-1], w.shape[1])  # (..., O)
    bias_mask_residual[xp](y, b, mask, residual)  # y += b, and the mask and the residual if given
    return y, LinearCache(x2d, w, ws)


def backward(dy, cache: LinearCache):
    """dy (..., O) -> dx (..., I), {"w": dw (I, O), "b": db (O,)}."""
    xp = array_module(dy)
    x2d, w, ws = cache
    dy2d = dy.reshape(-1, dy.shape[-1])  # (N, O)
    dx = xp.matmul(dy2d, w.T, out=ws and ws.empty((dy2d.shape[0], w.shape[0]), dy.dtype))  # (N, I) dy @ w^T
    dw = xp.matmul(x2d.T, dy2d, out=ws and ws.empty(w.shape, dy.dtype))  # (I, O) x^T @ dy
    db = dy2d.sum(axis=0)  # (O,)
    return dx.reshape(*dy.shape[:-1], w.shape[0]), {"w": dw, "b": db}
