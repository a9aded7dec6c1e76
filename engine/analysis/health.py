"""Training health: the share of dead ReLU units in each feed-forward layer.

A unit of act(x @ w1 + b1) is dead on some sequences when its pre-activation is <= 0 at
every position of every one of them: it passes no signal forward and, through ReLU's zero
slope, no gradient back to w1 and b1, so it may never recover. GELU has no flat part (a
unit is never exactly zero), so the measure is for ReLU models only.
"""

from __future__ import annotations

from ..runtime.backend import to_numpy


def dead_relu_share(model, tokens) -> list[float] | None:
    """Per layer, the share of d_ff units that are zero at every position of tokens (N, T);
    None for a GELU model."""
    if model.cfg.activation != "relu":
        return None
    cache = model.forward(tokens)[1]
    # the ReLU's cache is its mask [h > 0] (N, T, F): a unit is dead where the mask is 0 everywhere
    return [float((to_numpy(block.ffn.act).max(axis=(0, 1)) == 0).mean()) for block in cache.blocks]
