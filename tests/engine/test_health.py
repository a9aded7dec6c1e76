"""The dead ReLU share (engine/analysis/health.py) against the pre-activations computed here
by hand from the parameters: a post-LN encoder written out in plain NumPy, float64."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.analysis.health import dead_relu_share

CFG = ModelConfig(vocab_size=11, seq_len=6, d_model=8, n_heads=2, n_layers=2, d_ff=16, dtype="float64")


def layer_norm(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mean = z.mean(axis=-1, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, over C
    return (z - mean) / np.sqrt(var + 1e-5) * gamma + beta


def positional(T: int, C: int) -> np.ndarray:
    """(T, C): PE[p, 2i] = sin(p / 10000^(2i/C)), PE[p, 2i+1] = cos(...)."""
    angle = np.arange(T)[:, None] / 10000 ** (np.arange(0, C, 2) / C)  # (T, C/2)
    pe = np.zeros((T, C))
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe


def hand_forward(params: dict, cfg: ModelConfig, tokens: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """A post-LN ReLU encoder from the parameters alone: per layer, the feed-forward
    pre-activation x @ w1 + b1 (N, T, F); and the logits (N, T, V)."""
    N, T = tokens.shape
    C, H = cfg.d_model, cfg.n_heads
    D = C // H
    x = np.asarray(params["embed"], dtype=np.float64)[tokens] + positional(T, C)  # (N, T, C)
    found = []
    for layer in range(cfg.n_layers):

        def p(name: str, layer: int = layer) -> np.ndarray:
            return np.asarray(params[f"layers.{layer}.{name}"], dtype=np.float64)

        def heads(z: np.ndarray) -> np.ndarray:
            return z.reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, H, T, D)

        q, k, v = (heads(x @ p(f"attn.w{n}") + p(f"attn.b{n}")) for n in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D)  # (N, H, T, T)
        if cfg.causal:
            scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        attn = (weights @ v).transpose(0, 2, 1, 3).reshape(N, T, C) @ p("attn.wo") + p("attn.bo")
        x = layer_norm(x + attn, p("ln1.gamma"), p("ln1.beta"))  # (N, T, C)
        h = x @ p("ffn.w1") + p("ffn.b1")  # (N, T, F)
        found.append(h)
        x = layer_norm(x + np.maximum(h, 0) @ p("ffn.w2") + p("ffn.b2"), p("ln2.gamma"), p("ln2.beta"))
    return found, x @ np.asarray(params["head.w"], dtype=np.float64) + np.asarray(params["head.b"], dtype=np.float64)


def pre_activations(params: dict, cfg: ModelConfig, tokens: np.ndarray) -> list[np.ndarray]:
    """Per layer, x @ w1 + b1 (N, T, F)."""
    return hand_forward(params, cfg, tokens)[0]


def dead_counts(params: dict, cfg: ModelConfig, tokens: np.ndarray) -> list[int]:
    """Per layer, the units whose pre-activation is <= 0 at every position of every sequence."""
    return [int((h <= 0).all(axis=(0, 1)).sum()) for h in pre_activations(params, cfg, tokens)]


def tokens_for(cfg: ModelConfig, n: int = 5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, cfg.vocab_size, size=(n, cfg.seq_len))


def test_the_hand_forward_is_the_models():
    """The forward written here computes what the model does (so its pre-activations are the model's)."""
    model, tokens = TransformerEncoder(CFG, seed=3), tokens_for(CFG)
    logits = hand_forward(model.params, CFG, tokens)[1]
    np.testing.assert_allclose(logits, model.forward(tokens)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_dead_share_is_the_count_of_units_never_positive(causal):
    cfg = ModelConfig(**{**CFG.to_dict(), "causal": causal})
    model, tokens = TransformerEncoder(cfg, seed=0), tokens_for(cfg)
    expected = dead_counts(model.params, cfg, tokens)
    assert dead_relu_share(model, tokens) == [n / cfg.d_ff for n in expected]


def test_planted_dead_units_are_found():
    model, tokens = TransformerEncoder(CFG, seed=0), tokens_for(CFG)
    planted = {0: [1, 4, 5], 1: [0, 2, 3, 7, 15]}
    for layer, units in planted.items():
        model.params[f"layers.{layer}.ffn.b1"][units] = -1e3  # no input lifts these above zero
    h = pre_activations(model.params, CFG, tokens)
    assert all((h[layer][..., units] < 0).all() for layer, units in planted.items())  # planted for sure
    shares = dead_relu_share(model, tokens)
    expected = dead_counts(model.params, CFG, tokens)
    for layer, units in planted.items():
        assert shares[layer] >= len(units) / CFG.d_ff
        assert shares[layer] == expected[layer] / CFG.d_ff


def test_a_unit_alive_at_one_position_only_is_not_dead():
    model, tokens = TransformerEncoder(CFG, seed=0), tokens_for(CFG)
    b1 = model.params["layers.0.ffn.b1"]
    h = pre_activations(model.params, CFG, tokens)[0]  # (N, T, F)
    highest = h.reshape(-1, CFG.d_ff).max(axis=0)  # (F,) each unit's largest pre-activation
    second = np.sort(h.reshape(-1, CFG.d_ff), axis=0)[-2]  # (F,) and its next largest
    b1 -= (highest + second) / 2  # each unit now positive at exactly one position
    assert ((pre_activations(model.params, CFG, tokens)[0] > 0).sum(axis=(0, 1)) == 1).all()
    assert dead_relu_share(model, tokens)[0] == 0.0


def test_gelu_has_no_dead_units():
    cfg = ModelConfig(**{**CFG.to_dict(), "activation": "gelu"})
    assert dead_relu_share(TransformerEncoder(cfg, seed=0), tokens_for(cfg)) is None
