"""What a model makes of some tokens, brought to the host for the instruments: the logits and
probabilities, every layer's attention weights and scores, and the logit lens (each block's
residual stream read out through the final LayerNorm and the head).

    seen = analyze(model, tokens)                       # one forward pass, no gradients
    seen = analysis_of(model, logits, cache, rows)      # from a forward pass already made

Legend: B batch, T sequence, V vocabulary, L layers, H heads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..components import attention, layernorm, linear
from ..runtime.host import fetch


class Analysis(NamedTuple):
    """What the model makes of some tokens, on the host (analyze)."""

    logits: np.ndarray  # (B, T, V)
    probs: np.ndarray  # (B, T, V) float64 softmax of the logits
    attention: np.ndarray  # (L, B, H, T, T) attention weights of every layer and head
    scores: np.ndarray  # (L, B, H, T, T) q·k/sqrt(D) + mask: what the softmax was given
    lens: np.ndarray  # (L, B, T, V) float64 logit lens: the prediction read out after each block


def analyze(model, tokens, knockout: tuple[int, int] | None = None) -> Analysis:
    """tokens (B, T) -> host arrays: what the lab shows (no gradients); knockout (layer,
    head) as in TransformerEncoder.forward."""
    return analysis_of(model, *model.forward(tokens, knockout=knockout))


def analysis_of(model, logits, cache, rows=slice(None)) -> Analysis:
    """The Analysis of a forward pass's logits (B, T, V) and cache (ModelCache), for the
    sequences `rows` (a slice of the batch). From a GPU: one transfer for all of it."""
    blocks = cache.blocks
    maps = [c.attn.probs[rows] for c in blocks]  # L x (B', H, T, T)
    scores = [c.attn.q[rows] @ c.attn.k[rows].swapaxes(-1, -2) for c in blocks]  # L x (B', H, T, T)
    lens = [lens_logits(model, c.out[rows]) for c in blocks]  # L x (B', T, V)
    host, *arrays = fetch(logits[rows], *maps, *scores, *lens)
    L = len(blocks)
    maps, scores, lens = np.stack(arrays[:L]), np.stack(arrays[L : 2 * L]), arrays[2 * L :]
    if model.cfg.causal:  # (L, B', H, T, T)
        scores += attention.causal_mask(np, scores.shape[-1], scores.dtype)
    probs = attention.softmax(host.astype(np.float64))  # (B', T, V) in float64, in place in the copy
    lens = np.stack([attention.softmax(x.astype(np.float64)) for x in lens])  # (L, B', T, V)
    return Analysis(host, probs, maps, scores, lens)


def lens_logits(model, x):
    """The logits of the logit lens: x (B, T, C) through the final LayerNorm (pre-LN models
    have one) and the head -> (B, T, V), on the model's device. For the last block's output
    these are exactly the model's own logits."""
    P = model.params
    if model.cfg.norm_first:
        x = layernorm.forward(x, P["ln_f.gamma"], P["ln_f.beta"])[0]
    return linear.forward(x, P["head.w"], P["head.b"])[0]
