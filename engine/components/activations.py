"""Element-wise non-linearities of the feed-forward network: ReLU and GELU (tanh form).

Each is a pure pair: forward(h) -> (a, cache), backward(da, cache) -> dh. Any shape.
"""

from __future__ import annotations

import math

from ..runtime.backend import array_module

GELU_C = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), a Python float so float32 stays float32
GELU_A = 0.044715


def relu_forward(h):
    """a = max(h, 0) = h * [h > 0]. The cache is the mask [h > 0] as 0/1 in h's dtype:
    multiplying by a same-type mask is the fastest form of both passes in NumPy."""
    positive = (h > 0).astype(h.dtype)
    return h * positive, positive


def relu_backward(da, positive):
    """dh = da * [h > 0]."""
    return da * positive


def gelu_forward(h):
    """a = 0.5 h (1 + tanh(u)),  u = sqrt(2/pi) (h + 0.044715 h^3)."""
    xp = array_module(h)
    t = xp.tanh(GELU_C * (h + GELU_A * h * h * h))
    return 0.5 * h * (1.0 + t), (h, t)


def gelu_backward(da, cache):
    """da/dh = 0.5 (1 + t) + 0.5 h (1 - t^2) du/dh,  du/dh = sqrt(2/pi) (1 + 3 * 0.044715 h^2)."""
    h, t = cache
    du = GELU_C * (1.0 + 3.0 * GELU_A * h * h)
    return da * (0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * du)


FORWARD = {"relu": relu_forward, "gelu": gelu_forward}
BACKWARD = {"relu": relu_backward, "gelu": gelu_backward}
