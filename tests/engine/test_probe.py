"""The probe against a forward pass written here by hand from model.params and the pinned math
(../shared/DESIGN.md): the logit lens after every layer, the attention scores and weights, and
the per-position loss. Nothing of the engine's forward is called on the test's side."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.analysis.probe import look
from engine.params import param_shapes

TOL = 1e-12


def tiny_model(norm_first: bool, causal: bool, activation: str = "relu") -> TransformerEncoder:
    """A float64 model with every parameter random (biases and LayerNorm betas too)."""
    cfg = ModelConfig(vocab_size=7, seq_len=6, d_model=8, n_heads=2, n_layers=3, d_ff=12, causal=causal,
                      norm_first=norm_first, activation=activation, dtype="float64")  # fmt: skip
    rng = np.random.default_rng(3)
    params = {name: rng.standard_normal(shape) * (0.2 if len(shape) == 1 else 0.6)
              for name, shape in param_shapes(cfg).items()}  # fmt: skip
    for name in params:
        if name.endswith("gamma"):
            params[name] += 1.0
    return TransformerEncoder(cfg, params=params)


def layer_norm(z, gamma, beta):
    """(T, C) -> (T, C): biased variance over C, eps 1e-5."""
    mean = z.mean(axis=-1, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=-1, keepdims=True)
    return (z - mean) / np.sqrt(var + 1e-5) * gamma + beta


def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def act(h, activation):
    if activation == "relu":
        return np.maximum(h, 0.0)
    return 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))


def positional(T, C):
    pe = np.zeros((T, C))
    for p in range(T):
        for i in range(0, C, 2):
            pe[p, i] = np.sin(p / 10000 ** (i / C))
            pe[p, i + 1] = np.cos(p / 10000 ** (i / C))
    return pe


def attend(z, P, p, H, causal, knocked_head):
    """One layer's attention, head by head: (T, C) -> out (T, C), scores (H, T, T), weights (H, T, T)."""
    T, C = z.shape
    D = C // H
    q, k, v = (z @ P[p + f"attn.w{n}"] + P[p + f"attn.b{n}"] for n in "qkv")  # (T, C) each
    scores, weights, heads = np.zeros((H, T, T)), np.zeros((H, T, T)), []
    for h in range(H):
        cols = slice(h * D, (h + 1) * D)
        s = q[:, cols] @ k[:, cols].T / np.sqrt(D)  # (T, T)
        if causal:
            s = s + np.where(np.triu(np.ones((T, T)), k=1) > 0, -np.inf, 0.0)
        scores[h], weights[h] = s, softmax(s)
        heads.append(np.zeros((T, D)) if h == knocked_head else weights[h] @ v[:, cols])
    out = np.concatenate(heads, axis=1) @ P[p + "attn.wo"] + P[p + "attn.bo"]
    return out, scores, weights


def ffn(z, P, p, activation):
    """(T, C) -> (T, C): act(z@w1+b1)@w2+b2."""
    return act(z @ P[p + "ffn.w1"] + P[p + "ffn.b1"], activation) @ P[p + "ffn.w2"] + P[p + "ffn.b2"]


def by_hand(model, tokens, knockout=None):
    """tokens (T,) -> per-layer read-outs (L, T, V), scores and weights (L, H, T, T), probs (T, V)."""
    cfg, P = model.cfg, model.params
    x = P["embed"][tokens] + positional(len(tokens), cfg.d_model)  # (T, C)
    lens, scores, weights = [], [], []
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        off = knockout[1] if knockout is not None and knockout[0] == i else None
        ln1, ln2 = (P[p + "ln1.gamma"], P[p + "ln1.beta"]), (P[p + "ln2.gamma"], P[p + "ln2.beta"])
        if cfg.norm_first:
            a, s, w = attend(layer_norm(x, *ln1), P, p, cfg.n_heads, cfg.causal, off)
            x = x + a
            x = x + ffn(layer_norm(x, *ln2), P, p, cfg.activation)
            read = layer_norm(x, P["ln_f.gamma"], P["ln_f.beta"])  # the residual stream through ln_f
        else:
            a, s, w = attend(x, P, p, cfg.n_heads, cfg.causal, off)
            x = layer_norm(x + a, *ln1)
            x = layer_norm(x + ffn(x, P, p, cfg.activation), *ln2)
            read = x  # already normalised by the block's LN2
        lens.append(softmax(read @ P["head.w"] + P["head.b"]))
        scores.append(s)
        weights.append(w)
    return np.stack(lens), np.stack(scores), np.stack(weights), lens[-1]


CASES = [(False, False, "relu"), (True, False, "gelu"), (False, True, "gelu"), (True, True, "relu")]


@pytest.mark.parametrize("norm_first, causal, activation", CASES)
@pytest.mark.parametrize("knockout", [None, (1, 0)])
def test_the_probe_agrees_with_a_forward_pass_by_hand(norm_first, causal, activation, knockout):
    model = tiny_model(norm_first, causal, activation)
    tokens = np.array([[3, 0, 6, 3, 1, 5]])
    targets = np.array([[1, -1, 2, 6, 0, 4]])
    report = look(model, tokens, targets, knockout=knockout)
    lens, scores, weights, probs = by_hand(model, tokens[0], knockout)
    assert report.lens.shape == (3, 6, 7)
    np.testing.assert_allclose(report.lens, lens, rtol=0, atol=TOL)  # every layer's read-out
    np.testing.assert_allclose(report.probs, probs, rtol=0, atol=TOL)
    np.testing.assert_array_equal(report.lens[-1], report.probs)  # the last layer's lens is the output
    finite = np.isfinite(scores)
    np.testing.assert_array_equal(np.isfinite(report.scores), finite)  # -inf exactly where masked
    assert finite.all() != causal
    np.testing.assert_allclose(report.scores[finite], scores[finite], rtol=0, atol=TOL)
    np.testing.assert_allclose(report.attention, weights, rtol=0, atol=TOL)
    e = np.exp(report.scores - report.scores.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=-1, keepdims=True), report.attention, rtol=0, atol=TOL)


def test_the_scores_are_masked_above_the_diagonal_for_a_causal_model():
    report = look(tiny_model(False, causal=True), np.array([[1, 2, 3, 4]]), np.array([[2, 3, 4, 5]]))
    above = np.triu(np.ones((4, 4), dtype=bool), k=1)
    assert np.all(report.scores[..., above] == -np.inf)
    assert np.all(np.isfinite(report.scores[..., ~above]))
    assert np.all(report.attention[..., above] == 0.0)


def test_losses_are_minus_log_p_of_the_target_and_nan_where_unknown():
    model = tiny_model(True, causal=False)
    targets = np.array([[1, -1, 2, 6, 0, -1]])
    report = look(model, np.array([[3, 0, 6, 3, 1, 5]]), targets)
    *_, probs = by_hand(model, np.array([3, 0, 6, 3, 1, 5]))
    losses = report.losses
    for t, target in enumerate(targets[0]):
        if target < 0:
            assert np.isnan(losses[t])
        else:
            assert losses[t] == pytest.approx(-np.log(probs[t, target]), abs=TOL)
