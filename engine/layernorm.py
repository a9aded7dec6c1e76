"""LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * gamma + beta.

Legend: B batch, T sequence, C d_model. Biased variance (divide by C), eps = 1e-5.
The backward pass follows llm.c's doc/layernorm: with xhat = (x - mean) * rstd and
g = dy * gamma,  dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
"""

from __future__ import annotations

from typing import NamedTuple

from .backend import array_module

EPS = 1e-5


class LayerNormCache(NamedTuple):
    xhat: object  # (B, T, C) normalised input
    rstd: object  # (B, T, 1) 1 / sqrt(var + eps)
    gamma: object  # (C,)


def forward(x, gamma, beta):
    """x (B, T, C), gamma (C,), beta (C,) -> y (B, T, C), cache."""
    xp = array_module(x)
    mean = x.mean(axis=-1, keepdims=True)  # (B, T, 1)
    xc = x - mean  # (B, T, C)
    var = (xc * xc).mean(axis=-1, keepdims=True)  # (B, T, 1)
    rstd = 1.0 / xp.sqrt(var + EPS)  # (B, T, 1)
    xhat = xc * rstd  # (B, T, C)
    y = xhat * gamma + beta  # (B, T, C)
    return y, LayerNormCache(xhat, rstd, gamma)


def backward(dy, cache: LayerNormCache):
    """dy (B, T, C) -> dx (B, T, C), {"gamma": (C,), "beta": (C,)}."""
    xhat, rstd, gamma = cache
    axes = tuple(range(dy.ndim - 1))
    dbeta = dy.sum(axis=axes)  # (C,)
    dgamma = (dy * xhat).sum(axis=axes)  # (C,)
    g = dy * gamma  # (B, T, C) gradient w.r.t. xhat
    dx = g - g.mean(axis=-1, keepdims=True)  # (B, T, C)
    dx -= xhat * (g * xhat).mean(axis=-1, keepdims=True)
    dx *= rstd
    return dx, {"gamma": dgamma, "beta": dbeta}
