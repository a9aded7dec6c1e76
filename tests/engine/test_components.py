"""Each component's backward pass against central finite differences, in float64.

Every test draws inputs and a random upstream gradient dy, takes loss = sum(y * dy),
and compares the component's own backward with finite differences of that loss.
"""

import numpy as np
import pytest

from engine.components import activations, attention, embedding, feedforward, layernorm, linear, loss
from engine.runtime import backend
from engine.runtime.workspace import Workspace

from .gradients import assert_gradients, random_upstream

RNG = np.random.default_rng(1234)


def randn(*shape):
    return RNG.standard_normal(shape)


def test_linear():
    x, w, b = randn(2, 3, 5), randn(5, 4), randn(4)
    y, cache = linear.forward(x, w, b)
    dy = randn(*y.shape)
    dx, g = linear.backward(dy, cache)
    f = random_upstream(lambda: linear.forward(x, w, b)[0], dy)
    assert_gradients(f, {"x": (x, dx), "w": (w, g["w"]), "b": (b, g["b"])})


@pytest.mark.parametrize("name", ["relu", "gelu"])
def test_activation(name):
    h = randn(3, 4, 6)
    h[np.abs(h) < 1e-3] = 0.5  # keep ReLU's kink out of the finite-difference step
    a, cache = activations.FORWARD[name](h)
    da = randn(*a.shape)
    dh = activations.BACKWARD[name](da, cache)
    f = random_upstream(lambda: activations.FORWARD[name](h)[0], da)
    assert_gradients(f, {"h": (h, dh)})


def test_gelu_is_the_tanh_form():
    h = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    expected = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    np.testing.assert_allclose(activations.gelu_forward(h)[0], expected, rtol=1e-15)


def test_layernorm():
    x, gamma, beta = randn(2, 3, 8), randn(8), randn(8)
    y, cache = layernorm.forward(x, gamma, beta)
    dy = randn(*y.shape)
    dx, g = layernorm.backward(dy, cache)
    f = random_upstream(lambda: layernorm.forward(x, gamma, beta)[0], dy)
    assert_gradients(f, {"x": (x, dx), "gamma": (gamma, g["gamma"]), "beta": (beta, g["beta"])})


def test_layernorm_normalises_with_biased_variance():
    x = randn(4, 10) * 3 + 2
    y, _ = layernorm.forward(x, np.ones(10), np.zeros(10))
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feedforward(activation):
    x = randn(2, 3, 6)
    p = {"w1": randn(6, 10), "b1": randn(10), "w2": randn(10, 6), "b2": randn(6)}
    y, cache = feedforward.forward(x, p, activation)
    dy = randn(*y.shape)
    dx, g = feedforward.backward(dy, cache)
    f = random_upstream(lambda: feedforward.forward(x, p, activation)[0], dy)
    assert_gradients(f, {"x": (x, dx), **{k: (p[k], g[k]) for k in p}})


@pytest.mark.parametrize("n_heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_attention(n_heads, causal):
    B, T, C = 2, 5, 8
    x = randn(B, T, C)
    p = {name: randn(C, C) / np.sqrt(C) for name in ("wq", "wk", "wv", "wo")}
    p.update({name: randn(C) for name in ("bq", "bk", "bv", "bo")})
    y, cache = attention.forward(x, p, n_heads, causal)
    dy = randn(*y.shape)
    dx, g = attention.backward(dy, cache)
    f = random_upstream(lambda: attention.forward(x, p, n_heads, causal)[0], dy)
    assert_gradients(f, {"x": (x, dx), **{k: (p[k], g[k]) for k in p}})


def test_attention_weights_are_rows_of_a_distribution_and_causal_hides_the_future():
    B, T, C = 1, 6, 8
    x = randn(B, T, C)
    p = {name: randn(C, C) for name in ("wq", "wk", "wv", "wo")} | {n: randn(C) for n in ("bq", "bk", "bv", "bo")}
    _, cache = attention.forward(x, p, 2, causal=True)
    np.testing.assert_allclose(cache.probs.sum(-1), 1.0, rtol=1e-12)
    assert np.all(cache.probs[..., np.triu_indices(T, k=1)[0], np.triu_indices(T, k=1)[1]] == 0)


def test_attention_heads_use_contiguous_column_blocks():
    """Head h must see only columns h*D:(h+1)*D of q, k and v (the pinned split)."""
    B, T, C, H = 1, 3, 4, 2
    x = randn(B, T, C)
    eye = np.eye(C)
    p = {"wq": eye, "wk": eye, "wv": eye, "wo": eye} | {n: np.zeros(C) for n in ("bq", "bk", "bv", "bo")}
    _, cache = attention.forward(x, p, H, causal=False)
    q0 = x[0, :, 0:2]  # head 0: columns 0..1
    scores = q0 @ q0.T / np.sqrt(2)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(cache.probs[0, 0], expected, rtol=1e-12)


def test_embedding_scatters_repeated_tokens():
    tokens = np.array([[0, 3, 3], [1, 3, 0]])  # token 3 used three times, token 2 never
    embed = randn(5, 4)
    x, cache = embedding.forward(tokens, embed)
    dx = randn(*x.shape)
    g = embedding.backward(dx, cache)
    f = random_upstream(lambda: embedding.forward(tokens, embed)[0], dx)
    assert_gradients(f, {"embed": (embed, g["embed"])})
    assert np.all(g["embed"][2] == 0) and np.all(g["embed"][4] == 0)


@pytest.mark.parametrize(
    "vocab, width, one_hot",
    [(5, 4, True), (backend.ONE_HOT_MAX_ROWS, 4, True), (backend.ONE_HOT_MAX_ROWS + 8, 4, False),
     (200, 256, True), (300, 256, False)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_embedding_gradient_sums_each_tokens_rows_either_way(vocab, width, one_hot, dtype):
    assert backend.uses_one_hot(vocab, width) == one_hot  # the cases take both ways
    rng = np.random.default_rng(vocab)
    tokens = rng.integers(0, vocab, (6, 50))
    tokens[0, :3] = vocab - 1  # the last row repeated; most rows of a large vocabulary unused
    dx = rng.standard_normal((6, 50, width)).astype(dtype)
    expected = np.zeros((vocab, width))
    for token, row in zip(tokens.reshape(-1), dx.reshape(-1, width)):
        expected[token] += row  # one position at a time, in float64
    unused = np.setdiff1d(np.arange(vocab), tokens)
    for ws in (None, Workspace()):
        kept = []
        for _ in range(2):  # with a workspace, the second call must not write over the first's result
            got = backend.scatter_add_rows(tokens.reshape(-1), dx.reshape(-1, width), vocab, ws and ws.start())
            kept.append(got)
        for got in kept:
            assert got.shape == (vocab, width) and got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
            assert np.all(got[unused] == 0)  # an unused token gets exactly 0


def test_embedding_rejects_tokens_outside_the_vocabulary():
    with pytest.raises(ValueError, match="token 7 is outside the vocabulary 0..4"):
        embedding.forward(np.array([[1, 7]]), randn(5, 2))
    with pytest.raises(ValueError, match="token -2 is outside"):
        embedding.forward(np.array([[-2, 1]]), randn(5, 2))


def test_cross_entropy_with_ignored_targets():
    logits = randn(2, 3, 7)
    targets = np.array([[1, -1, 6], [0, 2, -1]])
    value, cache = loss.forward(logits, targets)
    dlogits = loss.backward(1.0, cache)
    assert_gradients(lambda: loss.forward(logits, targets)[0], {"logits": (logits, dlogits)})
    assert np.all(dlogits[0, 1] == 0) and np.all(dlogits[1, 2] == 0)


def test_cross_entropy_value_is_the_mean_over_counted_positions():
    logits = randn(1, 3, 4)
    targets = np.array([[2, -1, 0]])
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -(logp[0, 0, 2] + logp[0, 2, 0]) / 2
    assert loss.forward(logits, targets)[0] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1e3, 1e6, 1e30])
def test_cross_entropy_is_finite_for_large_logits(dtype, scale):
    logits = (randn(2, 4, 5) * scale).astype(dtype)
    targets = np.array([[0, 1, 2, 3], [4, 0, -1, 2]])
    value, cache = loss.forward(logits, targets)
    dlogits = loss.backward(1.0, cache)
    assert np.isfinite(value) and value >= 0
    assert np.isfinite(dlogits).all()
    assert dlogits.dtype == np.dtype(dtype)


def test_cross_entropy_errors():
    logits = randn(1, 2, 4)
    with pytest.raises(ValueError, match="target 4 is outside the vocabulary 0..3"):
        loss.forward(logits, np.array([[0, 4]]))
    with pytest.raises(ValueError, match="no position counts"):
        loss.forward(logits, np.array([[-1, -1]]))
