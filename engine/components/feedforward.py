"""Position-wise feed-forward network: ffn(x) = act(x @ w1 + b1) @ w2 + b2.

Legend: B batch, T sequence, C d_model, F d_ff.
Params (local names): w1 (C, F), b1 (F,), w2 (F, C), b2 (C,).
"""

from __future__ import annotations

from typing import NamedTuple

from . import activations, linear


class FeedForwardCache(NamedTuple):
    up: linear.LinearCache  # x -> h
    act: object  # what the activation's backward needs
    down: linear.LinearCache  # a -> y
    activation: str  # "relu" | "gelu"


def forward(x, p: dict, activation: str):
    """x (B, T, C) -> y (B, T, C), cache."""
    h, up = linear.forward(x, p["w1"], p["b1"])  # (B, T, F)
    a, act = activations.FORWARD[activation](h)  # (B, T, F)
    y, down = linear.forward(a, p["w2"], p["b2"])  # (B, T, C)
    return y, FeedForwardCache(up, act, down, activation)


def backward(dy, cache: FeedForwardCache):
    """dy (B, T, C) -> dx (B, T, C), {"w1", "b1", "w2", "b2"}."""
    da, g2 = linear.backward(dy, cache.down)  # (B, T, F)
    dh = activations.BACKWARD[cache.activation](da, cache.act)  # (B, T, F)
    dx, g1 = linear.backward(dh, cache.up)  # (B, T, C)
    return dx, {"w1": g1["w"], "b1": g1["b"], "w2": g2["w"], "b2": g2["b"]}
