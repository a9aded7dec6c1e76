"""Position-wise feed-forward network: ffn(x) = dropout(act(x @ w1 + b1)) @ w2 + b2.

The dropout (PyTorch's `self.dropout` in TransformerEncoderLayer._ff_block) is there in
training only, when a mask is given; without one, ffn(x) = act(x @ w1 + b1) @ w2 + b2.

Legend: B batch, T sequence, C d_model, F d_ff.
Params (local names): w1 (C, F), b1 (F,), w2 (F, C), b2 (C,).
"""

from __future__ import annotations

from typing import NamedTuple

from . import activations, dropout, linear


class FeedForwardCache(NamedTuple):
    up: linear.LinearCache  # x -> h
    act: object  # what the activation's backward needs
    down: linear.LinearCache  # a -> y
    activation: str  # "relu" | "gelu"
    drop: object = None  # (B, T, F) dropout mask after the activation; None when dropout is off
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


def forward(x, p: dict, activation: str, drop=None, ws=None, out_mask=None, residual=None):
    """x (B, T, C) -> y (B, T, C), cache. drop (B, T, F), if given: a dropout mask after the
    activation. out_mask and residual (B, T, C), if given: y = y * out_mask + residual, the
    dropout and the residual that follow in a block, in the same pass as the bias b2.
    ws: the training pass's Workspace, or None (components/__init__.py)."""
    h, up = linear.forward(x, p["w1"], p["b1"], ws)  # (B, T, F)
    a, act = activations.FORWARD[activation](h, ws)  # (B, T, F)
    a = dropout.forward(a, drop, ws)  # (B, T, F) a itself when dropout is off
    y, down = linear.forward(a, p["w2"], p["b2"], ws, out_mask, residual)  # (B, T, C)
    return y, FeedForwardCache(up, act, down, activation, drop, ws)


def backward(dy, cache: FeedForwardCache):
    """dy (B, T, C) -> dx (B, T, C), {"w1", "b1", "w2", "b2"}."""
    da, g2 = linear.backward(dy, cache.down)  # (B, T, F)
    da = dropout.backward(da, cache.drop)  # (B, T, F)
    dh = activations.BACKWARD[cache.activation](da, cache.act, cache.ws)  # (B, T, F)
    dx, g1 = linear.backward(dh, cache.up)  # (B, T, C)
    return dx, {"w1": g1["w"], "b1": g1["b"], "w2": g2["w"], "b2": g2["b"]}
