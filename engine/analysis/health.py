"""Training health: the share of dead ReLU units in each feed-forward layer.

A unit of act(x @ w1 + b1) is dead on some sequences when its pre-activation is <= 0 at
every position of every one of them: it passes no signal forward and, through ReLU's zero
slope, no gradient back to w1 and b1, so it may never recover. GELU has no flat part (a
unit is never exactly zero), so the measure is for ReLU models only.
"""

from __future__ import annotations

import numpy as np

from ..runtime.host import fetch


class DeadUnits:
    """Which d_ff units of each layer were zero at every position seen so far, pass by pass."""

    def __init__(self) -> None:
        self.alive: list[np.ndarray] | None = None  # per layer, (F,) bool: positive somewhere

    def add(self, cache, rows=slice(None)) -> None:
        """A forward pass's cache (of a ReLU model), for the sequences `rows` of its batch."""
        # the ReLU's cache is its output max(h, 0) (N, T, F): a unit is alive where it is positive somewhere
        alive = fetch(*[(block.ffn.act[rows] > 0).any(axis=(0, 1)) for block in cache.blocks])  # one transfer
        self.alive = alive if self.alive is None else [a | b for a, b in zip(self.alive, alive)]

    def shares(self) -> list[float]:
        """Per layer, the share of units that were never positive."""
        return [float(1.0 - a.mean()) for a in self.alive]


def dead_relu_share(model, tokens) -> list[float] | None:
    """Per layer, the share of d_ff units that are zero at every position of tokens (N, T);
    None for a GELU model."""
    if model.cfg.activation != "relu":
        return None
    units = DeadUnits()
    units.add(model.forward(tokens)[1])
    return units.shares()
