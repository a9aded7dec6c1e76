"""The heads' instruments against independent computations: a knock-out equals a model whose
output-projection rows for that head are zero; entropy and pattern scores equal formulas
written out here on hand-made attention; measure_heads agrees with both on a real model."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.analysis import heads
from engine.analysis.heads import MIXED, PATTERNS, HeadSums, measure_heads, name_pattern
from engine.analysis.readout import analyze

CONFIGS = {
    "post-LN": dict(n_heads=2, n_layers=2, seq_len=6),
    "pre-LN, causal": dict(n_heads=2, n_layers=2, seq_len=6, norm_first=True, causal=True),
    "4 heads, GELU": dict(n_heads=4, n_layers=1, seq_len=5, activation="gelu"),
}


def model_of(config: dict, seed: int = 1) -> TransformerEncoder:
    return TransformerEncoder(ModelConfig(dtype="float64", **config), seed=seed)


def data(cfg: ModelConfig, n: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, cfg.vocab_size, (n, cfg.seq_len))
    targets = rng.integers(0, cfg.vocab_size, (n, cfg.seq_len))
    targets[0, 0] = -1
    return tokens, targets


def without_head(model: TransformerEncoder, layer: int, head: int) -> TransformerEncoder:
    """A copy whose output projection ignores the head: its D rows of wo set to zero."""
    params = model.params_numpy()
    D = model.cfg.d_model // model.cfg.n_heads
    params[f"layers.{layer}.attn.wo"][head * D : (head + 1) * D] = 0.0
    return TransformerEncoder(model.cfg, params=params)


def loss_and_acc(logits: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over targets != -1, written out here."""
    counted = targets != -1
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, np.where(counted, targets, 0)[..., None], axis=-1)[..., 0]
    return float(-picked[counted].mean()), float((logits.argmax(-1) == targets)[counted].mean())


@pytest.mark.parametrize("name", CONFIGS)
def test_a_knocked_out_head_is_a_model_without_its_output_rows(name):
    model = model_of(CONFIGS[name])
    tokens, _ = data(model.cfg)
    whole = model.forward(tokens)[0]
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            knocked = model.forward(tokens, knockout=(layer, head))[0]
            expected = without_head(model, layer, head).forward(tokens)[0]
            np.testing.assert_allclose(knocked, expected, rtol=1e-12, atol=1e-12)
            assert np.abs(knocked - whole).max() > 1e-6  # it did change something
    np.testing.assert_array_equal(model.forward(tokens)[0], whole)  # and nothing stays knocked out


def test_entropy_of_one_hot_rows_is_zero_and_of_uniform_rows_log2_n():
    T = 5
    for causal in (False, True):
        seen = np.tril(np.ones((T, T))) if causal else np.ones((T, T))
        one_hot, uniform = HeadSums(), HeadSums()
        one_hot.add(np.eye(T)[None], causal)
        uniform.add((seen / seen.sum(axis=1, keepdims=True))[None], causal)
        assert one_hot.entropy_bits() == 0.0
        # causal rows are scaled to log2 T, so a uniform causal head reads as a uniform full one
        assert uniform.entropy_bits() == pytest.approx(np.log2(T), abs=1e-12)


def test_causal_entropy_scales_each_row_by_what_it_could_see():
    rng = np.random.default_rng(3)
    T = 6
    a = np.tril(rng.random((4, T, T)) + 0.01)
    a /= a.sum(axis=-1, keepdims=True)
    sums = HeadSums()
    sums.add(a, causal=True)
    expected = []
    for seq in a:
        for t in range(1, T):  # row 0 has one choice and does not count
            row = seq[t, : t + 1]
            expected.append(-(row * np.log2(row)).sum() * np.log2(T) / np.log2(t + 1))
    assert sums.entropy_bits() == pytest.approx(np.mean(expected), rel=1e-12)


def hand_made(kind: str, T: int) -> np.ndarray:
    rows = np.arange(T)
    a = np.zeros((T, T))
    if kind == "self":
        a[rows, rows] = 1
    elif kind == "previous":
        a[rows, np.maximum(rows - 1, 0)] = 1
    elif kind == "first":
        a[:, 0] = 1
    elif kind == "anti-diagonal":
        a[rows, T - 1 - rows] = 1
    else:
        a[:] = 1 / T
    return a[None]


@pytest.mark.parametrize("kind", PATTERNS)
def test_each_pattern_is_named_with_score_one(kind):
    sums = HeadSums()
    sums.add(hand_made(kind, 8), causal=False)
    scores = sums.scores()
    assert scores[kind] == pytest.approx(1.0)
    assert name_pattern(scores) == (kind, pytest.approx(1.0))


def test_a_pattern_score_is_the_mean_weight_on_its_cells():
    rng = np.random.default_rng(0)
    T = 7
    a = rng.random((5, T, T)) ** 4
    a /= a.sum(axis=-1, keepdims=True)
    sums = HeadSums()
    sums.add(a, causal=False)
    t = np.arange(T)
    scores = sums.scores()
    assert scores["anti-diagonal"] == pytest.approx(a[:, t, T - 1 - t].mean())
    assert scores["previous"] == pytest.approx(a[:, t[1:], t[1:] - 1].mean())  # row 0 has no previous token
    assert scores["first"] == pytest.approx(a[:, :, 0].mean())
    # the uniform overlap, rescaled so that an even spread is 1 and one key 0
    assert scores["uniform"] == pytest.approx(((np.minimum(a, 1 / T).sum(axis=-1) - 1 / T) / (1 - 1 / T)).mean())


def test_a_soft_head_of_a_short_sequence_is_named_by_where_its_weight_goes():
    # the mean attention of layer 1 head 1 of the default reverse model (T = 4), trained to 100%
    a = np.array([[0, 0.03, 0.29, 0.68], [0.02, 0.16, 0.56, 0.26], [0.26, 0.56, 0.16, 0.02], [0.68, 0.29, 0.03, 0]])
    sums = HeadSums()
    sums.add(a[None], causal=False)
    assert name_pattern(sums.scores())[0] == "anti-diagonal"
    one_hot = HeadSums()
    one_hot.add(hand_made("self", 4), causal=False)
    assert one_hot.scores()["uniform"] == pytest.approx(0.0)


def test_a_causal_row_with_one_key_counts_for_no_pattern():
    T = 4
    a = np.tril(np.ones((T, T)))
    a /= a.sum(axis=1, keepdims=True)  # uniform over what each row sees: row 0 all on itself
    sums = HeadSums()
    sums.add(a[None], causal=True)
    scores = sums.scores()
    assert scores["uniform"] == pytest.approx(1.0)
    assert scores["self"] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4]))  # rows 1..3 only


def test_a_margin_of_exactly_the_threshold_names_the_pattern():
    assert name_pattern({"anti-diagonal": 0.8, "uniform": 0.7})[0] == "anti-diagonal"


def test_a_head_split_between_two_patterns_is_called_mixed():
    a = 0.5 * hand_made("self", 6) + 0.5 * hand_made("previous", 6)
    sums = HeadSums()
    sums.add(a, causal=False)
    assert name_pattern(sums.scores())[0] == MIXED


@pytest.mark.parametrize("name", CONFIGS)
def test_measure_heads_agrees_with_independent_computations(name):
    model = model_of(CONFIGS[name])
    assert_heads_agree(model, *data(model.cfg))


def test_measure_heads_over_several_passes_agrees_too():
    model = model_of(dict(n_heads=2, n_layers=2, seq_len=64, d_model=16, d_ff=16))
    assert_heads_agree(model, *data(model.cfg, n=60))  # 3 passes of 5 copies of 25 sequences


def test_more_copies_than_a_pass_holds_are_measured_in_several_passes(monkeypatch):
    monkeypatch.setattr(heads, "eval_batch_size", lambda T: 4)  # 9 copies (2 layers of 4 heads): passes of 4, 4, 1
    model = model_of(dict(n_heads=4, n_layers=2, seq_len=6, d_model=16, d_ff=16))
    assert_heads_agree(model, *data(model.cfg, n=5))


def assert_heads_agree(model, tokens, targets):
    report = measure_heads(model, tokens, targets)
    maps = analyze(model, tokens).attention  # (L, N, H, T, T)
    T = model.cfg.seq_len
    assert (report.base_val_loss, report.base_val_acc) == pytest.approx(loss_and_acc(model.forward(tokens)[0], targets))
    first = 1 if model.cfg.causal else 0  # a causal row 0 has one key: it does not count
    t = np.arange(first, T)
    scale = np.log2(T) / np.log2(t + 1) if model.cfg.causal else np.ones(len(t))  # (rows,)
    for h in report.heads:
        a = maps[h.layer, :, h.head][:, first:]  # (N, rows, T)
        bits = -(a * np.log2(np.where(a > 0, a, 1))).sum(axis=-1)  # (N, rows)
        assert h.entropy_bits == pytest.approx((bits * scale).mean(), rel=1e-9)
        logits = without_head(model, h.layer, h.head).forward(tokens)[0]
        assert (h.val_loss, h.val_acc) == pytest.approx(loss_and_acc(logits, targets), rel=1e-9)
    records = report.records()
    keys = {"layer", "head", "entropy_bits", "pattern", "pattern_score", "val_loss", "val_acc", "base_val_loss",
            "base_val_acc"}  # fmt: skip
    assert all(set(r) == keys for r in records)
    assert [(r["layer"], r["head"]) for r in records] == [
        (layer + 1, head + 1) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)
    ]


@pytest.mark.parametrize("per_pass", [None, 3])  # 3: a batch of one sequence in passes of 3, 2 copies
def test_the_look_inside_sees_the_probe_sample_without_each_head_as_a_model_without_its_rows(per_pass, monkeypatch):
    if per_pass:
        monkeypatch.setattr(heads, "eval_batch_size", lambda T: per_pass)
    from engine import TrainConfig
    from engine.analysis.health import dead_relu_share
    from engine.analysis.inside import look_inside
    from engine.training.tasks import make_task

    model = model_of(dict(n_heads=2, n_layers=2, seq_len=6, causal=True))
    task = make_task(TrainConfig(task="copy", samples=40, val_samples=40), model.cfg.vocab_size, model.cfg.seq_len)
    inside = look_inside(model, task)
    sample = task.probe()[0]
    for (layer, head), report in inside.knocked.items():
        reference = analyze(without_head(model, layer, head), sample)
        np.testing.assert_allclose(report.probs, reference.probs[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(report.lens, reference.lens[:, 0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(report.attention, reference.attention[:, 0], rtol=1e-10, atol=1e-12)
        assert report.knockout == (layer, head)
    assert inside.heads.sequences == len(task.val_tokens)  # 40 sequences of 6: under 256 positions
    assert inside.dead_relu == dead_relu_share(model, task.val_tokens)  # one pass, or 40 of them
