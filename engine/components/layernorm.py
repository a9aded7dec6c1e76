"""LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * gamma + beta.

Legend: B batch, T sequence, C d_model. Biased variance (divide by C), eps = 1e-5.
The backward pass follows llm.c's doc/layernorm: with xhat = (x - mean) * rstd and
g = dy * gamma,  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..runtime.backend import array_module

EPS = 1e-5


class LayerNormCache(NamedTuple):
    xhat: object  # (B, T, C) normalised input
    rstd: object  # (B, T, 1) 1 / sqrt(var + eps)
    gamma: object  # (C,)
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


def forward(x, gamma, beta, ws=None):
    """x (B, T, C), gamma (C,), beta (C,) -> y (B, T, C), cache. ws: the training pass's
    Workspace, or None (components/__init__.py)."""
    xp = array_module(x)
    inv_c = 1.0 / x.shape[-1]  # means as sum * (1/C): NumPy's mean() costs more on small arrays
    mean = x.sum(axis=-1, keepdims=True) * inv_c  # (B, T, 1)
    xhat = np.subtract(x, mean, out=ws and ws.empty(x.shape, x.dtype))  # (B, T, C) centred (normalised two lines down)
    var = xp.einsum("...c,...c->...", xhat, xhat)[..., None] * inv_c  # (B, T, 1) biased variance
    rstd = 1.0 / xp.sqrt(var + EPS)  # (B, T, 1)
    xhat *= rstd  # (B, T, C)
    y = np.multiply(xhat, gamma, out=ws and ws.empty(x.shape, x.dtype))  # (B, T, C) xhat * gamma
    y += beta
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
    inv_c = 1.0 / C
    mean_g_xhat = xp.einsum("...c,...c->...", dx, xhat)[..., None] * inv_c  # (B, T, 1) mean(g * xhat)
    dx -= dx.sum(axis=-1, keepdims=True) * inv_c  # g - mean(g)
    dx -= np.multiply(xhat, mean_g_xhat, out=ws and ws.empty(dy.shape, dy.dtype))  # - xhat * mean(g * xhat)
    dx *= rstd
    return dx, {"gamma": dgamma, "beta": dbeta}
