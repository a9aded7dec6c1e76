"""Multi-head scaled dot-product self-attention with separate Q, K, V and output projections.

Legend: B batch, T sequence, C d_model, H heads, D = C / H head width.
Params (local names): wq wk wv wo (C, C), bq bk bv bo (C,).

    q, k, v = x@wq+bq, x@wk+bk, x@wv+bv       head h owns columns h*D:(h+1)*D
    a       = softmax(q k^T / sqrt(D) + mask)  mask: -inf above the diagonal when causal
    a       = dropout(a)                       in training only, when a dropout mask is given
    y       = concat_h(a v) @ wo + bo

The three input projections run as one GEMM against [wq | wk | wv] (C, 3C): the same
arithmetic as three products, with one pass over x instead of three.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..runtime.backend import array_module
from ..runtime.fused import fused
from . import dropout, linear


class AttentionCache(NamedTuple):
    x2d: object  # (B*T, C) input, for the projection weight gradients
    wqkv: object  # (C, 3C) [wq | wk | wv]
    q: object  # (B, H, T, D) queries, already scaled by 1/sqrt(D)
    k: object  # (B, H, T, D)
    v: object  # (B, H, T, D)
    probs: object  # (B, H, T, T) attention weights, rows sum to 1
    out: linear.LinearCache  # the output projection's: concat_h(a v) (B*T, C) and wo (C, C)
    drop: object = None  # (B, H, T, T) dropout mask on the weights (0 or 1/(1-p)); None when dropout is off
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


def causal_mask(xp, T: int, dtype):
    """(T, T): 0 on and below the diagonal, -inf above it (position t sees 0..t). Made once for
    each T, dtype and array module, and kept: read-only."""
    key = (xp.__name__, T, np.dtype(dtype).str)
    mask = _CAUSAL_MASKS.get(key)
    if mask is None or array_module(mask) is not xp:
        above = xp.triu(xp.ones((T, T), dtype=bool), k=1)
        mask = _CAUSAL_MASKS[key] = xp.where(above, -xp.inf, 0.0).astype(dtype)
    return mask


_CAUSAL_MASKS: dict = {}


@fused
def exp_shifted(xp):
    def kernel(scores, row_max):  # scores (..., T) = exp(scores - row_max), in place
        scores -= row_max
        xp.exp(scores, out=scores)

    return kernel


@fused
def softmax_gradient(xp):
    def kernel(dprobs, row_dot, probs):  # dprobs (..., T) becomes probs * (dprobs - row_dot)
        dprobs -= row_dot
        dprobs *= probs

    return kernel


def softmax(scores):
    """Softmax over the last axis, in place in `scores` (stable: each row shifted by its max)."""
    exp_shifted[array_module(scores)](scores, scores.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def softmax_backward(dprobs, probs):
    """dscores = probs * (dprobs - rowsum(dprobs * probs)), computed in dprobs' memory."""
    xp = array_module(dprobs)
    softmax_gradient[xp](dprobs, xp.einsum("...ij,...ij->...i", dprobs, probs)[..., None], probs)  # no (T, T) temporary
    return dprobs


def forward(x, p: dict, n_heads: int, causal: bool, head_mask=None, drop=None, ws=None, out_mask=None,
            residual=None):  # fmt: skip
    """x (B, T, C) -> y (B, T, C), cache.

    drop (B, H, T, T), if given: a dropout mask on the attention weights, after the softmax
    and before they weigh the values (where PyTorch's attention applies its dropout).

    head_mask (B, H), if given: each head's output multiplied by it before the output
    projection, sequence by sequence; 0 knocks the head out, as if it were not there (the
    lab's analysis of what each head does; never used in training: backward ignores it).

    out_mask and residual (B, T, C), if given: y = y * out_mask + residual, in the same pass as
    the output projection's bias (linear.forward): the dropout and the residual that follow the
    attention in a block.

    ws: the training pass's Workspace, or None (components/__init__.py)."""
    xp = array_module(x)
    B, T, C = x.shape
    H, D = n_heads, C // n_heads
    x2d = x.reshape(B * T, C)
    wqkv = xp.concatenate([p["wq"], p["wk"], p["wv"]], axis=1, out=ws and ws.empty((C, 3 * C), x.dtype))  # (C, 3C)
    qkv = xp.matmul(x2d, wqkv, out=ws and ws.empty((B * T, 3 * C), x.dtype))  # (B*T, 3C) x @ [wq | wk | wv]
    qkv += xp.concatenate([p["bq"], p["bk"], p["bv"]])
    qkv = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D) views, no copy
    scale = 1.0 / math.sqrt(D)
    q = np.multiply(qkv[0], scale, out=ws and by_position(ws, B, H, T, D, x.dtype))  # (B, H, T, D) scaled once, here
    k, v = qkv[1], qkv[2]  # (B, H, T, D)
    scores = xp.matmul(q, k.swapaxes(-1, -2), out=ws and ws.empty((B, H, T, T), x.dtype))  # (B, H, T, T) q k^T
    if causal:
        scores += causal_mask(xp, T, scores.dtype)
    probs = softmax(scores)  # (B, H, T, T)
    weights = dropout.forward(probs, drop, ws)  # (B, H, T, T) probs itself when dropout is off
    heads = (ws or xp).empty((B, T, H, D), x.dtype)  # laid out as concat_h: head h in columns h*D:(h+1)*D
    xp.matmul(weights, v, out=heads.transpose(0, 2, 1, 3))  # (B, H, T, D) a v, written in place
    if head_mask is not None:
        heads *= head_mask[:, None, :, None]  # (B, 1, H, 1): wo never sees a knocked-out head
    # (B, T, C) heads @ wo + bo, heads side by side: concat_h(a v)
    y, c_out = linear.forward(heads.reshape(B, T, C), p["wo"], p["bo"], ws, out_mask, residual)
    return y, AttentionCache(x2d, wqkv, q, k, v, probs, c_out, drop, ws)


def by_position(ws, B: int, H: int, T: int, D: int, dtype):
    """A (B, H, T, D) array of the workspace, (B, T, H, D) in memory: the layout NumPy gives
    qkv[0] * scale, the order of its operand's memory. The same layout makes the same BLAS calls
    in the products of q and k, so the same numbers as with a fresh array."""
    return ws.empty((B, T, H, D), dtype).transpose(0, 2, 1, 3)


def backward(dy, cache: AttentionCache):
    """dy (B, T, C) -> dx (B, T, C), {"wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"}."""
    xp = array_module(dy)
    ws = cache.ws
    B, H, T, D = cache.q.shape
    C = H * D
    dheads, g_out = linear.backward(dy, cache.out)  # (B, T, C) through the output projection
    dheads = dheads.reshape(B, T, H, D).transpose(0, 2, 1, 3)  # (B, H, T, D)
    # [dq | dk | dv] go straight into one buffer laid out as the forward's qkv
    dqkv = (ws or xp).empty((B, T, 3, H, D), dy.dtype)
    dq, dk, dv = (dqkv[:, :, n].transpose(0, 2, 1, 3) for n in range(3))  # (B, H, T, D) views
    # heads = weights @ v, weights = dropout(probs): recomputed, one product, rather than cached
    dweights = xp.matmul(dheads, cache.v.swapaxes(-1, -2), out=ws and ws.empty((B, H, T, T), dy.dtype))  # (B, H, T, T)
    xp.matmul(dropout.forward(cache.probs, cache.drop, ws).swapaxes(-1, -2), dheads, out=dv)
    dprobs = dropout.backward(dweights, cache.drop)  # (B, H, T, T) dweights itself when dropout is off
    # softmax, row by row: dscores = a * (da - sum_j(da * a)); masked entries have a = 0, so get 0
    dscores = softmax_backward(dprobs, cache.probs)  # (B, H, T, T)
    # scores = q_scaled @ k^T with q_scaled = q / sqrt(D)
    xp.matmul(dscores.swapaxes(-1, -2), cache.q, out=dk)
    scale = 1.0 / math.sqrt(D)
    k_scaled = np.multiply(cache.k, scale, out=ws and by_position(ws, B, H, T, D, dy.dtype))  # (B, H, T, D)
    xp.matmul(dscores, k_scaled, out=dq)  # the 1/sqrt(D) on k: (T, D), not (T, T)
    # back through the fused input projection
    dqkv = dqkv.reshape(B * T, 3 * C)  # (B*T, 3C)
    dwqkv = xp.matmul(cache.x2d.T, dqkv, out=ws and ws.empty((C, 3 * C), dy.dtype))  # (C, 3C) x^T dqkv
    dbqkv = dqkv.sum(axis=0)  # (3C,)
    dx = xp.matmul(dqkv, cache.wqkv.T, out=ws and ws.empty((B * T, C), dy.dtype))  # (B*T, C) dqkv [wq | wk | wv]^T
    grads = {
        "wq": dwqkv[:, :C], "wk": dwqkv[:, C:2 * C], "wv": dwqkv[:, 2 * C:],
        "bq": dbqkv[:C], "bk": dbqkv[C:2 * C], "bv": dbqkv[2 * C:],
        "wo": g_out["w"], "bo": g_out["b"],
    }  # fmt: skip
    return dx.reshape(B, T, C), grads
