"""Element-wise non-linearities of the feed-forward network: ReLU and GELU (tanh form).

Each is a pure pair: forward(h) -> (a, cache), backward(da, cache) -> dh. Any shape.
Each takes ws too, the training pass's Workspace, or None (components/__init__.py). Each pass
is one kernel on a GPU: ReLU's forward one `maximum`, the others fused (runtime/fused.py).
On the CPU, GELU's formulas are computed a product or a sum at a time, in place, in the
order the formula reads, with the temporaries it needs passed in as scratch (None: NumPy
allocates them; on a GPU they stay in registers).
"""

from __future__ import annotations

import math

import numpy as np

from ..runtime.backend import array_module
from ..runtime.fused import fused

GELU_C = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), a Python float so float32 stays float32
GELU_A = 0.044715


@fused
def relu_gradient(xp):
    def kernel(da, a, dh):  # dh = da * [a > 0]
        xp.greater(a, 0.0, out=dh)  # [a > 0] as 1.0 / 0.0 in dh's dtype
        dh *= da

    return kernel


@fused
def gelu_pass(xp):
    def kernel(h, t, a, scratch):  # t = tanh(u), a = 0.5 h (1 + t)
        xp.multiply(h, GELU_A, out=t)  # 0.044715 h
        t *= h
        t *= h  # 0.044715 h^3
        t += h
        t *= GELU_C  # u
        xp.tanh(t, out=t)
        xp.multiply(h, 0.5, out=a)  # 0.5 h
        a *= xp.add(t, 1.0, out=scratch)  # 0.5 h (1 + t)

    return kernel


@fused
def gelu_gradient(xp):
    def kernel(da, h, t, dh, du, rest, half_h):  # dh = da * da/dh; du, rest, half_h: scratch
        du = xp.multiply(h, 3.0 * GELU_A, out=du)  # 3 * 0.044715 h (a scratch of None: a new array)
        du *= h
        du += 1.0
        du *= GELU_C  # du/dh
        xp.add(t, 1.0, out=dh)
        dh *= 0.5  # 0.5 (1 + t)
        rest = xp.multiply(t, t, out=rest)  # t^2
        xp.subtract(1.0, rest, out=rest)  # 1 - t^2
        rest *= xp.multiply(h, 0.5, out=half_h)  # 0.5 h (1 - t^2)
        rest *= du  # 0.5 h (1 - t^2) du/dh
        dh += rest  # da/dh
        xp.multiply(da, dh, out=dh)

    return kernel


def relu_forward(h, ws=None):
    """a = max(h, 0). The cache is a itself: a > 0 exactly where h > 0 (a NaN is neither),
    and a is kept anyway, as the input of the product that follows."""
    a = np.maximum(h, 0.0, out=ws and ws.empty(h.shape, h.dtype))
    return a, a


def relu_backward(da, a, ws=None):
    """dh = da * [h > 0] = da * [a > 0]."""
    xp = array_module(da)
    dh = (ws or xp).empty(da.shape, da.dtype)
    relu_gradient[xp](da, a, dh)
    return dh


def gelu_forward(h, ws=None):
    """a = 0.5 h (1 + tanh(u)),  u = sqrt(2/pi) (h + 0.044715 h^3)."""
    xp = array_module(h)
    t, a = (ws or xp).empty(h.shape, h.dtype), (ws or xp).empty(h.shape, h.dtype)
    gelu_pass[xp](h, t, a, ws and ws.empty(h.shape, h.dtype))
    return a, (h, t)


def gelu_backward(da, cache, ws=None):
    """da/dh = 0.5 (1 + t) + 0.5 h (1 - t^2) du/dh,  du/dh = sqrt(2/pi) (1 + 3 * 0.044715 h^2)."""
    h, t = cache
    xp = array_module(h)
    dh = (ws or xp).empty(h.shape, h.dtype)
    scratch = [ws and ws.empty(h.shape, h.dtype) for _ in range(3)]
    gelu_gradient[xp](da, h, t, dh, *scratch)
    return dh


FORWARD = {"relu": relu_forward, "gelu": gelu_forward}
BACKWARD = {"relu": relu_backward, "gelu": gelu_backward}
