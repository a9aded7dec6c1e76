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

from ..runtime.backend import array_module
from . import dropout


class AttentionCache(NamedTuple):
    x2d: object  # (B*T, C) input, for the projection weight gradients
    wqkv: object  # (C, 3C) [wq | wk | wv]
    q: object  # (B, H, T, D) queries, already scaled by 1/sqrt(D)
    k: object  # (B, H, T, D)
    v: object  # (B, H, T, D)
    probs: object  # (B, H, T, T) attention weights, rows sum to 1
    heads2d: object  # (B*T, C) concat_h(a v), input to the output projection
    wo: object  # (C, C)
    drop: object = None  # (B, H, T, T) dropout mask on the weights (0 or 1/(1-p)); None when dropout is off


def causal_mask(xp, T: int, dtype):
    """(T, T): 0 on and below the diagonal, -inf above it (position t sees 0..t)."""
    above = xp.triu(xp.ones((T, T), dtype=bool), k=1)
    return xp.where(above, -xp.inf, 0.0).astype(dtype)


def softmax(scores):
    """Softmax over the last axis, in place in `scores` (stable: each row shifted by its max)."""
    xp = array_module(scores)
    scores -= scores.max(axis=-1, keepdims=True)
    xp.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def softmax_backward(dprobs, probs):
    """dscores = probs * (dprobs - rowsum(dprobs * probs)), computed in dprobs' memory."""
    xp = array_module(dprobs)
    dprobs -= xp.einsum("...ij,...ij->...i", dprobs, probs)[..., None]  # one pass, no (T, T) temporary
    dprobs *= probs
    return dprobs


def forward(x, p: dict, n_heads: int, causal: bool, head_mask=None, drop=None):
    """x (B, T, C) -> y (B, T, C), cache.

    drop (B, H, T, T), if given: a dropout mask on the attention weights, after the softmax
    and before they weigh the values (where PyTorch's attention applies its dropout).

    head_mask (B, H), if given: each head's output multiplied by it before the output
    projection, sequence by sequence; 0 knocks the head out, as if it were not there (the
    lab's analysis of what each head does; never used in training: backward ignores it)."""
    xp = array_module(x)
    B, T, C = x.shape
    H, D = n_heads, C // n_heads
    x2d = x.reshape(B * T, C)
    wqkv = xp.concatenate([p["wq"], p["wk"], p["wv"]], axis=1)  # (C, 3C)
    qkv = x2d @ wqkv  # (B*T, 3C)
    qkv += xp.concatenate([p["bq"], p["bk"], p["bv"]])
    qkv = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D) views, no copy
    q = qkv[0] * (1.0 / math.sqrt(D))  # (B, H, T, D) scaled once, here
    k, v = qkv[1], qkv[2]  # (B, H, T, D)
    scores = q @ k.swapaxes(-1, -2)  # (B, H, T, T)
    if causal:
        scores += causal_mask(xp, T, scores.dtype)
    probs = softmax(scores)  # (B, H, T, T)
    weights = dropout.forward(probs, drop)  # (B, H, T, T) probs itself when dropout is off
    heads = xp.empty((B, T, H, D), dtype=x.dtype)  # laid out as concat_h: head h in columns h*D:(h+1)*D
    xp.matmul(weights, v, out=heads.transpose(0, 2, 1, 3))  # (B, H, T, D) written in place
    if head_mask is not None:
        heads *= head_mask[:, None, :, None]  # (B, 1, H, 1): wo never sees a knocked-out head
    heads2d = heads.reshape(B * T, C)  # (B*T, C) heads side by side
    y = heads2d @ p["wo"]  # (B*T, C)
    y += p["bo"]
    cache = AttentionCache(x2d, wqkv, q, k, v, probs, heads2d, p["wo"], drop)
    return y.reshape(B, T, C), cache


def backward(dy, cache: AttentionCache):
    """dy (B, T, C) -> dx (B, T, C), {"wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"}."""
    xp = array_module(dy)
    B, H, T, D = cache.q.shape
    C = H * D
    dy2d = dy.reshape(B * T, C)
    # output projection
    dwo = cache.heads2d.T @ dy2d  # (C, C)
    dbo = dy2d.sum(axis=0)  # (C,)
    dheads = (dy2d @ cache.wo.T).reshape(B, T, H, D).transpose(0, 2, 1, 3)  # (B, H, T, D)
    # [dq | dk | dv] go straight into one buffer laid out as the forward's qkv
    dqkv = xp.empty((B, T, 3, H, D), dtype=dy.dtype)
    dq, dk, dv = (dqkv[:, :, n].transpose(0, 2, 1, 3) for n in range(3))  # (B, H, T, D) views
    # heads = weights @ v, weights = dropout(probs): recomputed, one product, rather than cached
    dweights = dheads @ cache.v.swapaxes(-1, -2)  # (B, H, T, T)
    xp.matmul(dropout.forward(cache.probs, cache.drop).swapaxes(-1, -2), dheads, out=dv)
    dprobs = dropout.backward(dweights, cache.drop)  # (B, H, T, T) dweights itself when dropout is off
    # softmax, row by row: dscores = a * (da - sum_j(da * a)); masked entries have a = 0, so get 0
    dscores = softmax_backward(dprobs, cache.probs)  # (B, H, T, T)
    # scores = q_scaled @ k^T with q_scaled = q / sqrt(D)
    xp.matmul(dscores.swapaxes(-1, -2), cache.q, out=dk)
    xp.matmul(dscores, cache.k * (1.0 / math.sqrt(D)), out=dq)  # the 1/sqrt(D) on k: (T, D), not (T, T)
    # back through the fused input projection
    dqkv = dqkv.reshape(B * T, 3 * C)  # (B*T, 3C)
    dwqkv = cache.x2d.T @ dqkv  # (C, 3C)
    dbqkv = dqkv.sum(axis=0)  # (3C,)
    dx = dqkv @ cache.wqkv.T  # (B*T, C)
    grads = {
        "wq": dwqkv[:, :C], "wk": dwqkv[:, C:2 * C], "wv": dwqkv[:, 2 * C:],
        "bq": dbqkv[:C], "bk": dbqkv[C:2 * C], "bv": dbqkv[2 * C:],
        "wo": dwo, "bo": dbo,
    }  # fmt: skip
    return dx.reshape(B, T, C), grads
