"""The same model written with torch.nn, for the benchmark's side-by-side timing and for the
tests that compare our hand-written gradients with PyTorch's autograd.

PyTorch is an optional extra (`pip install torch`); nothing in engine/ or tfnp_tui/ uses it.
nn.TransformerEncoderLayer packs q, k, v into one in_proj (3C, C) and stores every linear
weight as (out, in), so `load_params` transposes and stacks our (in, out) weights.
TorchEncoder's embed, encoder and head are the module `tfnp-tui --export` writes the state
dict of (engine/export.py); `load_export` reads such a file into it.
"""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import ModelConfig
from engine.components.positional import sinusoidal


class TorchEncoder(nn.Module):
    """embed + PE -> nn.TransformerEncoder -> linear head, with mean cross-entropy (ignore -1)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        activation = "relu" if cfg.activation == "relu" else (lambda x: F.gelu(x, approximate="tanh"))
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.n_heads, cfg.d_ff, dropout=0.0, activation=activation,
            layer_norm_eps=1e-5, batch_first=True, norm_first=cfg.norm_first,
        )  # fmt: skip
        final = nn.LayerNorm(cfg.d_model, eps=1e-5) if cfg.norm_first else None
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, norm=final, enable_nested_tensor=False)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.register_buffer("pe", torch.tensor(sinusoidal(cfg.seq_len, cfg.d_model)), persistent=False)
        self.to(getattr(torch, cfg.dtype))

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T) int -> logits (B, T, V)."""
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pe[:T].to(self.head.weight.dtype)  # the sinusoidal table, as ours
        mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=x.dtype) if self.cfg.causal else None
        x = self.encoder(x, mask=mask, is_causal=self.cfg.causal)
        return self.head(x)

    def forward(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.logits(tokens)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)


def load_export(path: str) -> TorchEncoder:
    """The module of a `tfnp-tui --export` file: built from the config in its metadata, its
    state dict loaded with strict=True (every name present, none left over). Needs safetensors."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        meta = json.loads(f.metadata()["tfnp"])
    model = TorchEncoder(ModelConfig(**meta["model"]))
    model.load_state_dict(load_file(path), strict=True)
    return model.eval()


def load_params(model: TorchEncoder, params: dict[str, np.ndarray]) -> None:
    """Copy our parameters (pinned names, (in, out) weights) into the torch model."""
    t = {k: torch.tensor(np.asarray(v)) for k, v in params.items()}
    with torch.no_grad():
        model.embed.weight.copy_(t["embed"])
        for i, layer in enumerate(model.encoder.layers):
            p = f"layers.{i}."
            a = layer.self_attn
            a.in_proj_weight.copy_(torch.cat([t[p + "attn.wq"].T, t[p + "attn.wk"].T, t[p + "attn.wv"].T]))
            a.in_proj_bias.copy_(torch.cat([t[p + "attn.bq"], t[p + "attn.bk"], t[p + "attn.bv"]]))
            a.out_proj.weight.copy_(t[p + "attn.wo"].T)
            a.out_proj.bias.copy_(t[p + "attn.bo"])
            layer.linear1.weight.copy_(t[p + "ffn.w1"].T)
            layer.linear1.bias.copy_(t[p + "ffn.b1"])
            layer.linear2.weight.copy_(t[p + "ffn.w2"].T)
            layer.linear2.bias.copy_(t[p + "ffn.b2"])
            for ours, theirs in (("ln1", layer.norm1), ("ln2", layer.norm2)):
                theirs.weight.copy_(t[p + ours + ".gamma"])
                theirs.bias.copy_(t[p + ours + ".beta"])
        if model.cfg.norm_first:
            model.encoder.norm.weight.copy_(t["ln_f.gamma"])
            model.encoder.norm.bias.copy_(t["ln_f.beta"])
        model.head.weight.copy_(t["head.w"].T)
        model.head.bias.copy_(t["head.b"])


def grads_in_our_names(model: TorchEncoder) -> dict[str, np.ndarray]:
    """The torch model's .grad arrays under our pinned names and shapes."""
    C = model.cfg.d_model
    g = {"embed": model.embed.weight.grad}
    for i, layer in enumerate(model.encoder.layers):
        p = f"layers.{i}."
        a = layer.self_attn
        w, b = a.in_proj_weight.grad, a.in_proj_bias.grad
        for n, name in enumerate(("q", "k", "v")):
            g[p + f"attn.w{name}"] = w[n * C : (n + 1) * C].T
            g[p + f"attn.b{name}"] = b[n * C : (n + 1) * C]
        g[p + "attn.wo"], g[p + "attn.bo"] = a.out_proj.weight.grad.T, a.out_proj.bias.grad
        g[p + "ffn.w1"], g[p + "ffn.b1"] = layer.linear1.weight.grad.T, layer.linear1.bias.grad
        g[p + "ffn.w2"], g[p + "ffn.b2"] = layer.linear2.weight.grad.T, layer.linear2.bias.grad
        g[p + "ln1.gamma"], g[p + "ln1.beta"] = layer.norm1.weight.grad, layer.norm1.bias.grad
        g[p + "ln2.gamma"], g[p + "ln2.beta"] = layer.norm2.weight.grad, layer.norm2.bias.grad
    if model.cfg.norm_first:
        g["ln_f.gamma"], g["ln_f.beta"] = model.encoder.norm.weight.grad, model.encoder.norm.bias.grad
    g["head.w"], g["head.b"] = model.head.weight.grad.T, model.head.bias.grad
    return {k: v.detach().numpy().copy() for k, v in g.items()}
