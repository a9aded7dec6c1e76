"""Element-wise non-linearities of the feed-forward network: ReLU and GELU (tanh form).

Each is a pure pair: forward(h) -> (a, cache), backward(da, cache) -> dh. Any shape.
Each takes ws too, the training pass's Workspace, or None (components/__init__.py). GELU's
formulas are computed a product or a sum at a time, in place, in the order the formula reads.
"""

from __future__ import annotations

import math

import numpy as np

from ..runtime.backend import array_module

GELU_C = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), a Python float so float32 stays float32
GELU_A = 0.044715


def relu_forward(h, ws=None):
    """a = max(h, 0) = h * [h > 0]. The cache is the mask [h > 0] as 0/1 in h's dtype:
    multiplying by a same-type mask is the fastest form of both passes in NumPy."""
    if ws is None:
        positive = (h > 0).astype(h.dtype)  # [h > 0] as 1.0 / 0.0
    else:  # the same, written straight into the workspace (no bool array on the way)
        positive = np.greater(h, 0, out=ws.empty(h.shape, h.dtype))
    return np.multiply(h, positive, out=ws and ws.empty(h.shape, h.dtype)), positive  # h * [h > 0]


def relu_backward(da, positive, ws=None):
    """dh = da * [h > 0]."""
    return np.multiply(da, positive, out=ws and ws.empty(da.shape, da.dtype))


def gelu_forward(h, ws=None):
    """a = 0.5 h (1 + tanh(u)),  u = sqrt(2/pi) (h + 0.044715 h^3)."""
    xp = array_module(h)
    t = np.multiply(h, GELU_A, out=ws and ws.empty(h.shape, h.dtype))  # 0.044715 h
    t *= h
    t *= h  # 0.044715 h^3
    t += h
    t *= GELU_C  # u
    xp.tanh(t, out=t)  # t = tanh(u)
    a = np.multiply(h, 0.5, out=ws and ws.empty(h.shape, h.dtype))  # 0.5 h
    a *= np.add(t, 1.0, out=ws and ws.empty(h.shape, h.dtype))  # 0.5 h (1 + t)
    return a, (h, t)


def gelu_backward(da, cache, ws=None):
    """da/dh = 0.5 (1 + t) + 0.5 h (1 - t^2) du/dh,  du/dh = sqrt(2/pi) (1 + 3 * 0.044715 h^2)."""
    h, t = cache
    du = np.multiply(h, 3.0 * GELU_A, out=ws and ws.empty(h.shape, h.dtype))  # 3 * 0.044715 h
    du *= h
    du += 1.0
    du *= GELU_C  # du/dh
    slope = np.add(t, 1.0, out=ws and ws.empty(h.shape, h.dtype))
    slope *= 0.5  # 0.5 (1 + t)
    rest = np.multiply(t, t, out=ws and ws.empty(h.shape, h.dtype))  # t^2
    np.subtract(1.0, rest, out=rest)  # 1 - t^2
    rest *= np.multiply(h, 0.5, out=ws and ws.empty(h.shape, h.dtype))  # 0.5 h (1 - t^2)
    rest *= du  # 0.5 h (1 - t^2) du/dh
    slope += rest  # da/dh
    return np.multiply(da, slope, out=slope)  # dh = da * da/dh


FORWARD = {"relu": relu_forward, "gelu": gelu_forward}
BACKWARD = {"relu": relu_backward, "gelu": gelu_backward}
