"""LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * gamma + beta.

Legend: B batch, T sequence, C d_model. Biased variance (divide by C), eps = 1e-5.
The backward pass follows llm.c's doc/layernorm: with xhat = (x - mean) * rstd and
g = dy * gamma,  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).

Each pass is its row sums (reductions) and the element-wise passes between them, each of those
one fused kernel on a GPU (runtime/fused.py): forward 5 kernels, backward 6.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..runtime.backend import array_module
from ..runtime.fused import fused

EPS = 1e-5


class LayerNormCache(NamedTuple):
    xhat: object  # (B, T, C) normalised input
    rstd: object  # (B, T, 1) 1 / sqrt(var + eps)
    gamma: object  # (C,)
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


@fused
def centre(xp):
    def kernel(x, total, inv_c, xhat):  # x (B, T, C), total (B, T, 1) row sums -> xhat = x - mean
        return xp.subtract(x, total * inv_c, out=xhat)  # into xhat, or a new array for None

    return kernel


@fused
def inverse_std(xp):
    def kernel(sum_sq, inv_c):  # sum_sq (B, T, 1) row sums of squares -> 1 / sqrt(var + eps) (B, T, 1)
        return 1.0 / xp.sqrt(sum_sq * inv_c + EPS)  # biased variance: sum_sq / C

    return kernel


@fused
def scale_shift(xp):
    def kernel(xhat, rstd, gamma, beta, y):  # xhat (B, T, C) centred, normalised in place; y = xhat * gamma + beta
        xhat *= rstd
        y = xp.multiply(xhat, gamma, out=y)  # into y, or a new array for None
        y += beta
        return y

    return kernel


@fused
def input_gradient(xp):
    def kernel(g, xhat, g_sum, gx_sum, rstd, inv_c, scratch):  # g (B, T, C) = dy * gamma becomes dx
        g -= g_sum * inv_c  # g - mean(g)
        g -= xp.multiply(xhat, gx_sum * inv_c, out=scratch)  # - xhat * mean(g * xhat)
        g *= rstd

    return kernel


def forward(x, gamma, beta, ws=None):
    """x (B, T, C), gamma (C,), beta (C,) -> y (B, T, C), cache. ws: the training pass's
    Workspace, or None (components/__init__.py)."""
    xp = array_module(x)
    inv_c = 1.0 / x.shape[-1]  # means as sum * (1/C): NumPy's mean() costs more on small arrays
    # (B, T, C) centred here, normalised in scale_shift
    xhat = centre[xp](x, x.sum(axis=-1, keepdims=True), inv_c, ws and ws.empty(x.shape, x.dtype))
    rstd = inverse_std[xp](xp.einsum("...c,...c->...", xhat, xhat)[..., None], inv_c)  # (B, T, 1)
    y = scale_shift[xp](xhat, rstd, gamma, beta, ws and ws.empty(x.shape, x.dtype))  # (B, T, C)
    return y, LayerNormCache(xhat, rstd, gamma, ws)


def backward(dy, cache: LayerNormCache):
    """dy (B, T, C) -> dx (B, T, C), {"gamma": (C,), "beta": (C,)}."""
    xp = array_module(dy)
    xhat, rstd, gamma, ws = cache
    C = dy.shape[-1]
    dy2d, xhat2d = dy.reshape(-1, C), xhat.reshape(-1, C)  # (N, C)
    dbeta = dy2d.sum(axis=0)  # (C,)
    dgamma = xp.einsum("nc,nc->c", dy2d, xhat2d)  # (C,)
    dx = np.multiply(dy, gamma, out=ws and ws.empty(dy.shape, dy.dtype))  # (B, T, C) g = dy * gamma, becoming dx
    gx_sum = xp.einsum("...c,...c->...", dx, xhat)[..., None]  # (B, T, 1) sum(g * xhat)
    g_sum = dx.sum(axis=-1, keepdims=True)  # (B, T, 1)
    input_gradient[xp](dx, xhat, g_sum, gx_sum, rstd, 1.0 / C, ws and ws.empty(dy.shape, dy.dtype))
    return dx, {"gamma": dgamma, "beta": dbeta}
