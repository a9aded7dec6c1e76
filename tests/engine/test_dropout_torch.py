"""Dropout against PyTorch: nn.TransformerEncoderLayer's own wiring with our masks in its
dropout places, its loss and autograd gradients against ours, in float64. Skipped when
PyTorch is not installed.

The layer's three nn.Dropout modules (`dropout` inside the feed-forward, `dropout1` and
`dropout2` before the residual adds) are swapped for modules that multiply by our masks; the
attention-weight dropout happens inside F.scaled_dot_product_attention, so that function is
swapped for its documented reference computation, softmax(q k^T / sqrt(D) + mask), with our
mask where the reference calls torch.dropout, then @ v."""

import math
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
from torch import nn  # noqa: E402
from torch.nn import functional  # noqa: E402
from torch_reference import TorchEncoder, grads_in_our_names, load_params  # noqa: E402

from engine import ModelConfig, TransformerEncoder  # noqa: E402
from engine.components.dropout import Dropout, Fixed  # noqa: E402

from .gradients import batch, max_norm_error  # noqa: E402


class Multiply(nn.Module):
    """In place of an nn.Dropout: y = x * mask, one fixed mask."""

    def __init__(self, mask: np.ndarray) -> None:
        super().__init__()
        self.mask = torch.tensor(mask)

    def forward(self, x):
        return x * self.mask


def attention_with(masks: list, calls: list):
    """F.scaled_dot_product_attention's reference computation with masks[i] as the i-th call's dropout."""

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        T = q.shape[-2]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
        if attn_mask is not None:
            scores = scores + attn_mask
        elif is_causal:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1) * masks[len(calls)]  # where the reference drops
        calls.append(1)
        return weights @ v

    return sdpa


@pytest.mark.parametrize(
    "kw",
    [dict(n_heads=2, n_layers=2, causal=True), dict(n_heads=2, n_layers=2, norm_first=True, activation="gelu")],
    ids=["post-LN causal ReLU", "pre-LN GELU"],
)
def test_loss_and_every_gradient_with_the_same_masks_equal_pytorch_autograd(kw, monkeypatch):
    cfg = ModelConfig(dtype="float64", seq_len=6, d_model=16, d_ff=24, **kw)
    ours = TransformerEncoder(cfg, seed=5)
    tokens, targets = batch(cfg, B=4)
    masks = Fixed(Dropout(0.4, np.random.default_rng(6)))
    loss, grads = ours.loss_and_grads(tokens, targets, masks)

    theirs = TorchEncoder(cfg)
    load_params(theirs, ours.params)
    per_layer = [masks.drawn[4 * i : 4 * i + 4] for i in range(cfg.n_layers)]  # attn, attn_out, ffn, ffn_out
    for layer, (_, attn_out, ffn, ffn_out) in zip(theirs.encoder.layers, per_layer):
        layer.dropout1, layer.dropout, layer.dropout2 = Multiply(attn_out), Multiply(ffn), Multiply(ffn_out)
    calls: list = []
    monkeypatch.setattr(functional, "scaled_dot_product_attention",
                        attention_with([torch.tensor(m[0]) for m in per_layer], calls))  # fmt: skip
    torch_loss = theirs.train()(torch.tensor(tokens), torch.tensor(targets))
    torch_loss.backward()
    assert len(calls) == cfg.n_layers  # every layer's attention went through the swapped function
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    reference = grads_in_our_names(theirs)
    for key, error in max_norm_error(grads, reference).items():
        assert error < 1e-10, key
    clean, _ = ours.loss_and_grads(tokens, targets)
    assert abs(clean - loss) > 1e-3  # the masks made a difference the comparison had to follow
