"""The gradient check's own measure: sound on a model trained to a tiny loss, on gradients
that are zero by design or small, and at ReLU kinks; and still failing a gradient wrong by
0.1% in one entry. Each hard case the check must pass comes with a test that it fails
there when the gradient is wrong (or, for kinks, that the case is hard: without the ReLU
on/off pattern the same comparison fails)."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.components import loss as cross_entropy
from engine.gradcheck import STEP, check, check_model

from .gradients import checked_in_every_entry, fresh, trained_batch

ROUNDING = np.finfo(np.float64).eps / 2  # 1.1e-16


def gradients(model, tokens, targets) -> tuple[float, dict]:
    """The float64 loss and parameter gradients of a model (a float64 copy; the model is unchanged)."""
    m = TransformerEncoder(ModelConfig(**{**model.cfg.to_dict(), "dtype": "float64"}), params=model.params_numpy())
    loss, grads = m.loss_and_grads(tokens, targets)
    return loss, grads


def largest(g: np.ndarray) -> float:
    """The largest entry of a gradient, in absolute value."""
    return float(np.abs(g).max())


def plant(monkeypatch, names, factor: float = 1.001, add: dict | None = None) -> None:
    """Make the model's backward pass wrong: the largest entry of each named gradient times
    factor ("input" is the input embeddings'), and add[name] added to entry 0 of a gradient."""
    original = TransformerEncoder.backward

    def corrupted(self, dlogits, cache):
        grads, dx0 = original(self, dlogits, cache)
        for name in names:
            g = dx0 if name == "input" else grads[name]
            g[np.unravel_index(np.abs(g).argmax(), g.shape)] *= factor
        for name, value in (add or {}).items():
            grads[name].reshape(-1)[0] += value
        return grads, dx0

    monkeypatch.setattr(TransformerEncoder, "backward", corrupted)


# ------------------------------------------------------------------ trained to a tiny loss
def test_a_model_trained_to_a_tiny_loss_passes_in_every_entry():
    model, tokens, targets = trained_batch()
    loss, grads = gradients(model, tokens, targets)
    assert loss < 1e-3  # the regime: f's rounding (~1e-17) no longer scales with the loss
    small = min(largest(g) for name, g in grads.items() if not name.endswith("attn.bk"))
    assert small < 1e-5  # a millionth of it is below what float64 differences resolve
    report = checked_in_every_entry("trained")  # check_model(model, tokens, targets, max_entries=None)
    assert report.passed, "\n" + report.table()
    assert sum(t.checked for t in report.tensors) + report.at_kinks == sum(t.size for t in report.tensors)


def test_every_tensor_of_a_trained_model_catches_a_wrong_entry(monkeypatch):
    """0.1% off in the largest entry of every gradient at once: each tensor is judged on its
    own, so every one fails but the key biases, whose gradient is zero and so unmoved."""
    model, tokens, targets = trained_batch()
    plant(monkeypatch, [*model.params, "input"])
    report = check_model(model, tokens, targets, max_entries=None)
    passing = [t.name for t in report.tensors if t.passed]
    assert passing == ["layers.0.attn.bk", "layers.1.attn.bk"], "\n" + report.table()


def test_the_noise_allowed_covers_what_rounding_actually_does():
    """Central differences at five nearly equal steps differ only by rounding (the h^2 term
    moves by under 10%): their spread is far above |loss| * 1e-16 / h, as the loss is
    computed from logits near 10, and within the noise the check allows."""
    model, tokens, targets = trained_batch()
    name = "layers.1.attn.bq"
    cfg = ModelConfig(**{**model.cfg.to_dict(), "dtype": "float64"})
    m = TransformerEncoder(cfg, params=model.params_numpy())
    flat = m.params[name].reshape(-1)

    def loss() -> float:
        return cross_entropy.forward(m.forward(tokens)[0], targets)[0]

    spreads = []
    for i in range(8):
        numeric = []
        for h in STEP * (1 + 0.01 * np.arange(5)):
            original = flat[i]
            flat[i] = original + h
            plus = loss()
            flat[i] = original - h
            minus = loss()
            flat[i] = original
            numeric.append((plus - minus) / (2 * h))
        spreads.append(np.ptp(numeric))
    report = checked_in_every_entry("trained")  # check_model(model, tokens, targets, max_entries=None)
    allowed = next(t.noise for t in report.tensors if t.name == name)
    assert max(spreads) > 100 * ROUNDING * loss() / STEP
    assert max(spreads) / 2 <= allowed


# ------------------------------------------------------------------------- small gradients
def test_the_smallest_gradient_of_a_trained_model_still_catches_a_wrong_entry(monkeypatch):
    model, tokens, targets = trained_batch()
    _, grads = gradients(model, tokens, targets)
    name = min((n for n in grads if not n.endswith("attn.bk")), key=lambda n: largest(grads[n]))
    assert largest(grads[name]) < 0.05 * max(largest(g) for g in grads.values())
    plant(monkeypatch, [name])
    report = check_model(model, tokens, targets, max_entries=None)
    assert [t.name for t in report.tensors if not t.passed] == [name], "\n" + report.table()


def test_a_gradient_far_below_a_thousandth_of_the_largest_still_catches_a_wrong_entry(monkeypatch):
    """Keys shrunk a thousandfold make every score nearly constant along a row, so the
    query's gradient falls to under 1e-4 of the model's largest: a 0.1% error there is
    1e-7 of it, and is still caught (no floor tied to other tensors hides it)."""
    model, tokens, targets = fresh()
    model.params["layers.0.attn.wk"][...] *= 1e-3
    _, grads = gradients(model, tokens, targets)
    assert largest(grads["layers.0.attn.bq"]) < 1e-4 * max(largest(g) for g in grads.values())
    assert check_model(model, tokens, targets, max_entries=64).passed  # every entry of the biases
    plant(monkeypatch, ["layers.0.attn.bq"])
    report = check_model(model, tokens, targets, max_entries=64)
    assert [t.name for t in report.tensors if not t.passed] == ["layers.0.attn.bq"], "\n" + report.table()


# ---------------------------------------------------------------------- zero by design
@pytest.mark.parametrize("state", ["fresh", "trained"])
def test_the_key_bias_is_reported_as_zero_and_nothing_else_is(state):
    model = fresh()[0] if state == "fresh" else trained_batch()[0]
    report = checked_in_every_entry(state)  # check_model(model, tokens, targets, max_entries=None)
    assert report.passed, "\n" + report.table()
    zero = [t.name for t in report.tensors if t.zero]
    assert zero == [name for name in model.params if name.endswith("attn.bk")]
    assert "zero" in report.table().splitlines()[[t.name for t in report.tensors].index(zero[0]) + 1]


def test_a_key_bias_gradient_that_is_not_zero_fails(monkeypatch):
    """A slip that gives dbk a value a thousandth of dbq's: 'zero' is not a free pass."""
    model, tokens, targets = trained_batch()
    _, grads = gradients(model, tokens, targets)
    plant(monkeypatch, [], add={"layers.1.attn.bk": 1e-3 * largest(grads["layers.1.attn.bq"])})
    report = check_model(model, tokens, targets, max_entries=None)
    assert [t.name for t in report.tensors if not t.passed] == ["layers.1.attn.bk"], "\n" + report.table()


# ---------------------------------------------------------------------------- ReLU kinks
def unit_near_its_kink(offset: float):
    """A fresh model whose first ReLU unit 5 at position (0, 0) has pre-activation `offset`
    (0 exactly when offset is 0): b1[5] = offset - (x @ w1)[0, 5], in the forward's own
    rounding."""
    model, tokens, targets = fresh()
    _, cache = model.forward(tokens)
    w1, b1 = model.params["layers.0.ffn.w1"], model.params["layers.0.ffn.b1"]
    pre = cache.blocks[0].ffn.up.x2d @ w1  # (N, F) as the forward computes it
    b1[5] = offset - pre[0, 5]  # with offset 0: -pre exactly, so pre + b1 rounds to 0
    return model, tokens, targets


def test_a_step_across_a_kink_is_redone_smaller():
    """The unit sits 3e-6 from its kink, inside the 1e-5 step: without the ReLU on/off pattern
    the same comparison fails by percent; with it every entry is checked and passes."""
    model, tokens, targets = unit_near_its_kink(3e-6)
    names = ("layers.0.ffn.b1", "layers.0.ffn.w1", "layers.0.ln1.gamma", "head.w")
    m = TransformerEncoder(model.cfg, params=model.params_numpy())
    _, grads = m.loss_and_grads(tokens, targets)

    def loss_only() -> float:
        return cross_entropy.forward(m.forward(tokens)[0], targets)[0]

    blind = check({name: (loss_only, m.params[name], grads[name]) for name in names})
    assert {t.name for t in blind if t.max_rel_error > 1e-3} >= {"layers.0.ffn.b1", "layers.0.ffn.w1"}
    report = check_model(model, tokens, targets, max_entries=64)  # every entry of b1, 64 of w1
    assert report.passed and report.at_kinks == 0, "\n" + report.table()


def test_an_entry_at_a_kink_is_left_out_and_counted(monkeypatch):
    """The unit sits exactly at its kink, where the loss has no derivative: the entries that
    move it cannot be checked and are counted, not compared; the rest still catch a slip."""
    model, tokens, targets = unit_near_its_kink(0.0)
    report = check_model(model, tokens, targets, max_entries=64)  # every entry of the biases
    kinks = {t.name: t.at_kinks for t in report.tensors}
    assert report.passed, "\n" + report.table()
    assert kinks["layers.0.ffn.b1"] == 1 and kinks["layers.0.ffn.b2"] == kinks["head.b"] == 0
    assert report.at_kinks > 1
    plant(monkeypatch, ["layers.0.ffn.b2"])
    report = check_model(model, tokens, targets, max_entries=64)
    assert [t.name for t in report.tensors if not t.passed] == ["layers.0.ffn.b2"], "\n" + report.table()


# ---------------------------------------------------------------------- the h^2 error
def test_a_steep_function_is_confirmed_by_richardson_and_still_fails_when_wrong():
    """f = sum(exp(300 x)): the central difference's own h^2 error, (300 h)^2 / 6 = 1.5e-6
    relative, is over the tolerance; extrapolating from h and h/2 cancels it. A gradient
    0.1% off in one entry still fails."""
    x = np.random.default_rng(0).uniform(-1e-3, 1e-3, 6)

    def f() -> float:
        return float(np.exp(300 * x).sum())

    exact = 300 * np.exp(300 * x)  # (6,)
    plain = (np.exp(300 * (x + STEP)) - np.exp(300 * (x - STEP))) / (2 * STEP)
    assert np.abs(plain - exact).max() / np.abs(exact).max() > 1e-6  # the plain difference alone fails
    assert check({"x": (f, x, exact)})[0].passed
    wrong = exact.copy()
    wrong[2] *= 1.001
    assert not check({"x": (f, x, wrong)})[0].passed


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_sampled_check_of_a_large_vocabulary_looks_where_the_embedding_gradient_lives(monkeypatch, seed):
    """The embedding's gradient lives on the rows of the batch's few tokens: a uniform sample
    of 32 of 32,000 entries misses them, calls the tensor zero and passes a wrong row."""
    cfg = ModelConfig(vocab_size=1000, dtype="float64")
    model = TransformerEncoder(cfg, seed=seed)
    rng = np.random.default_rng(100 + seed)  # not the check's own sampling stream
    tokens, targets = rng.integers(0, 1000, size=(2, 4)), rng.integers(0, 1000, size=(2, 4))
    original = TransformerEncoder.backward

    def corrupted(self, dlogits, cache):
        grads, dx0 = original(self, dlogits, cache)
        grads["embed"][grads["embed"] != 0] *= 1.01  # every used row wrong by 1%
        return grads, dx0

    monkeypatch.setattr(TransformerEncoder, "backward", corrupted)
    embed = next(t for t in check_model(model, tokens, targets, max_entries=32, seed=seed).tensors if t.name == "embed")
    assert embed.verdict == "FAIL", embed
