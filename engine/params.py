"""The parameters: their pinned names and shapes (DESIGN.md), how a fresh model draws them,
and which of them has a gradient that is zero by design.

Legend: V vocabulary, C d_model, F d_ff. Names in model order, embedding first, head last:
    embed (V, C)
    layers.{i}.attn.{wq,wk,wv,wo} (C, C), layers.{i}.attn.{bq,bk,bv,bo} (C,)
    layers.{i}.ln1.{gamma,beta} (C,)   layers.{i}.ffn.w1 (C, F) .b1 (F,) .w2 (F, C) .b2 (C,)
    layers.{i}.ln2.{gamma,beta} (C,)   ln_f.{gamma,beta} (C,) (pre-LN only)   head.w (C, V), head.b (V,)
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The pinned parameter names and shapes, in model order (embedding first, head last)."""
    V, C, F = cfg.vocab_size, cfg.d_model, cfg.d_ff
    shapes: dict[str, tuple[int, ...]] = {"embed": (V, C)}
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        for w, b in (("wq", "bq"), ("wk", "bk"), ("wv", "bv"), ("wo", "bo")):
            shapes[p + "attn." + w], shapes[p + "attn." + b] = (C, C), (C,)
        shapes[p + "ln1.gamma"], shapes[p + "ln1.beta"] = (C,), (C,)
        shapes[p + "ffn.w1"], shapes[p + "ffn.b1"] = (C, F), (F,)
        shapes[p + "ffn.w2"], shapes[p + "ffn.b2"] = (F, C), (C,)
        shapes[p + "ln2.gamma"], shapes[p + "ln2.beta"] = (C,), (C,)
    if cfg.norm_first:
        shapes["ln_f.gamma"], shapes["ln_f.beta"] = (C,), (C,)
    shapes["head.w"], shapes["head.b"] = (C, V), (V,)
    return shapes


def zero_by_design(name: str) -> bool:
    """Whether a parameter's gradient is exactly zero for any input: the attention key bias,
    since adding q·bk to every score of a query's row changes nothing after the softmax
    (docs/backprop.md). The lab and the gradient check say so instead of calling it vanishing."""
    return name.endswith(".attn.bk")


def init_params(cfg: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Fresh NumPy parameters: embedding ~ N(0, 1) (the scale of the positional table), weight
    matrices ~ N(0, 1/fan_in), biases and LayerNorm betas 0, gammas 1. Drawn in float64 and
    then cast, so a float32 and a float64 model of the same seed hold the same numbers."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in param_shapes(cfg).items():
        if name == "embed":
            value = rng.standard_normal(shape)
        elif len(shape) == 2:
            value = rng.standard_normal(shape) / np.sqrt(shape[0])
        elif name.endswith("gamma"):
            value = np.ones(shape)
        else:
            value = np.zeros(shape)
        params[name] = value.astype(cfg.dtype)
    return params
