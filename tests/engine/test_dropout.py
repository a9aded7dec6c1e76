"""Dropout: the masks' statistics, every site's gradient with fixed masks against finite
differences (post-LN and pre-LN, causal and not), exactly today's numbers without it,
evaluation and probes untouched by it, seeded masks (a resumed run is bit-identical), and
the same masks on the "GPU" (tests/engine/fake_cupy.py)."""

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig, TransformerEncoder
from engine.components import dropout
from engine.components.dropout import Dropout, Fixed, draw
from engine.gradcheck import check, check_model, model_tensors
from engine.model import BlockMasks
from engine.runtime.backend import to_numpy
from engine.runtime.memory import training_bytes
from engine.training import checkpoint
from engine.training.trainer import Trainer

from .gradients import batch

SITES = BlockMasks._fields  # attn, attn_out, ffn, ffn_out: PyTorch's attention dropout, dropout1, dropout, dropout2
MODELS = {
    "post-LN, causal, ReLU": dict(n_heads=2, n_layers=2, causal=True, seq_len=5, d_model=8, d_ff=12),
    "pre-LN, not causal, GELU": dict(n_heads=2, n_layers=2, norm_first=True, activation="gelu", seq_len=5,
                                     d_model=8, d_ff=12),
    "post-LN, not causal, GELU": dict(n_heads=2, n_layers=1, activation="gelu", seq_len=5, d_model=8, d_ff=12),
    "pre-LN, causal, ReLU": dict(n_heads=2, n_layers=1, norm_first=True, causal=True, seq_len=5, d_model=8, d_ff=12),
}  # fmt: skip


class OneSite:
    """Dropout masks at one site of every block (a field of BlockMasks), all ones at the others."""

    def __init__(self, p: float, site: str, seed: int = 0) -> None:
        self.p, self.site, self.source = p, SITES.index(site), Dropout(p, np.random.default_rng(seed))

    def masks(self, shapes, dtype, xp=np):
        drawn = self.source.masks(shapes, dtype, xp)
        return [m if i % len(SITES) == self.site else xp.ones(m.shape, dtype) for i, m in enumerate(drawn)]


class Ones:
    """p nominally 0.5, but every mask all ones: dropout on, yet nothing dropped or scaled."""

    p = 0.5

    def masks(self, shapes, dtype, xp=np):
        return [xp.ones(s, dtype) for s in shapes]


class Refused:
    """p 0: the model must not ask it for a single mask."""

    p = 0.0

    def masks(self, shapes, dtype, xp=np):
        raise AssertionError("masks drawn although p is 0")


def check_with(model: TransformerEncoder, tokens, targets, masks, max_entries: int = 12):
    """check_model's comparison with the mask source `masks` (fixed: the same masks every pass)."""
    return check(model_tensors(model, tokens, targets, masks), max_entries=max_entries)


# ------------------------------------------------------------------------------ the masks
def test_a_mask_keeps_one_minus_p_of_its_entries_scaled_by_one_over_one_minus_p():
    rng = np.random.default_rng(0)
    for p, dtype in ((0.1, np.float32), (0.5, np.float64), (0.9, np.float32)):
        mask = draw(rng, p, (400, 500), dtype)
        assert mask.dtype == dtype and mask.shape == (400, 500)
        kept = mask != 0
        assert set(np.unique(mask)) == {dtype(0), dtype(1 / (1 - p))}
        sigma = np.sqrt(p * (1 - p) / mask.size)  # of the kept fraction
        assert abs(kept.mean() - (1 - p)) < 5 * sigma, (p, kept.mean())
        assert abs(mask.mean(dtype=np.float64) - 1) < 5 * sigma / (1 - p)  # every entry keeps its expected value
    assert np.all(draw(rng, 0.0, (3, 4), np.float32) == 1)


def test_the_pair_multiplies_by_the_mask_both_ways_and_passes_through_without_one():
    x, dy = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    mask = np.array([[0, 2, 2], [2, 0, 2.0]])
    np.testing.assert_array_equal(dropout.forward(x, mask), [[0, 2, 4], [6, 0, 10]])
    np.testing.assert_array_equal(dropout.backward(dy, mask), mask)
    assert dropout.forward(x, None) is x and dropout.backward(dy, None) is dy


def test_sources_seeded_fixed_and_refusing_bad_p():
    shapes = [(2, 3), (4,)]
    a = Dropout(0.5, np.random.default_rng(7)).masks(shapes, np.float32)
    b = Dropout(0.5, np.random.default_rng(7)).masks(shapes, np.float32)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    fixed = Fixed(Dropout(0.5, np.random.default_rng(1)))
    first, again = fixed.masks(shapes, np.float32), fixed.masks(shapes, np.float32)
    assert all(x is y for x, y in zip(first, again)) and fixed.p == 0.5
    with pytest.raises(ValueError, match="other shapes"):
        fixed.masks([(2, 3), (5,)], np.float32)
    for p in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\)"):
            Dropout(p, np.random.default_rng())


def test_the_model_asks_for_every_site_of_every_layer_in_order():
    cfg = ModelConfig(n_layers=2, n_heads=2, d_model=8, d_ff=12, seq_len=5)
    asked = []

    class Recorder(Dropout):
        def masks(self, shapes, dtype, xp=np):
            asked.extend(shapes)
            return super().masks(shapes, dtype, xp)

    _, cache = TransformerEncoder(cfg).forward(
        np.zeros((3, 4), dtype=int), dropout=Recorder(0.1, np.random.default_rng())
    )
    B, T, C, H, F = 3, 4, 8, 2, 12
    assert asked == [(B, H, T, T), (B, T, C), (B, T, F), (B, T, C)] * 2
    block = cache.blocks[1]
    assert block.attn.drop is block.drop.attn and block.ffn.drop is block.drop.ffn  # cached where backward reads them


# ---------------------------------------------------------------------- the gradients
@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("name", ["post-LN, causal, ReLU", "pre-LN, not causal, GELU"])
def test_each_site_with_a_fixed_mask_matches_finite_differences(name, site):
    cfg = ModelConfig(dtype="float64", **MODELS[name])
    model = TransformerEncoder(cfg, seed=2)
    masks = Fixed(OneSite(0.5, site, seed=3))
    checks = check_with(model, *batch(cfg, B=2), masks)
    assert all(t.passed for t in checks), [(t.name, t.max_rel_error) for t in checks if not t.passed]
    assert 0 < (masks.drawn[SITES.index(site)] == 0).mean() < 1  # something was dropped there


@pytest.mark.parametrize("site", SITES)
def test_the_check_sees_a_backward_pass_that_forgets_a_sites_mask(monkeypatch, site):
    """The tests above can fail: with dropout's backward passing dy through unmasked, the
    site's gradients are wrong and the check says so."""
    cfg = ModelConfig(dtype="float64", **MODELS["post-LN, causal, ReLU"])
    monkeypatch.setattr(dropout, "backward", lambda dy, mask: dy)
    checks = check_with(TransformerEncoder(cfg, seed=2), *batch(cfg, B=2), Fixed(OneSite(0.5, site, seed=3)), 8)
    assert not all(t.passed for t in checks)


@pytest.mark.parametrize("name", MODELS)
def test_every_site_at_once_through_check_model(name):
    cfg = ModelConfig(dtype="float64", **MODELS[name])
    report = check_model(TransformerEncoder(cfg, seed=4), *batch(cfg, B=2), max_entries=12, dropout=0.3)
    assert report.passed, "\n" + report.table()
    assert report.dropout == 0.3 and report.conditions == "with dropout 0.3: one fixed mask"
    assert check_model(TransformerEncoder(cfg), *batch(cfg, B=2), max_entries=2).conditions == ""


# -------------------------------------------------------------- without it: today's numbers
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_ones_masks_and_p_zero_give_exactly_the_numbers_without_dropout(name, dtype):
    """Masks enter only as products at the four sites: masks of ones change no bit of the
    loss, the logits or any gradient; at p 0 no mask is even drawn."""
    cfg = ModelConfig(dtype=dtype, **MODELS[name])
    model = TransformerEncoder(cfg, seed=1)
    tokens, targets = batch(cfg, B=3)
    loss, grads, logits = model.forward_backward(tokens, targets)
    for source in (Ones(), Refused()):
        loss_d, grads_d, logits_d = model.forward_backward(tokens, targets, source)
        assert loss_d == loss and np.array_equal(logits_d, logits)
        assert all(np.array_equal(grads_d[k], g) for k, g in grads.items())
    p_loss, _ = model.loss_and_grads(tokens, targets, Dropout(0.5, np.random.default_rng(0)))
    assert p_loss != loss  # and with real masks it does change something


def test_a_run_with_dropout_0_passes_no_mask_source():
    trainer = Trainer(ModelConfig(seq_len=5), TrainConfig(task="reverse", samples=16, val_samples=8, batch_size=4))
    real, seen = trainer.model.forward_backward, []

    def spy(tokens, targets, dropout=None, grad_out=None):
        seen.append(dropout)
        return real(tokens, targets, dropout, grad_out)

    trainer.model.forward_backward = spy
    trainer.step()
    assert seen == [None] and trainer.train_cfg.dropout == 0.0


# ------------------------------------------------------------------- in the trainer
def reverse_trainer(p: float, seed: int = 0, device: str = "cpu") -> Trainer:
    train = TrainConfig(task="reverse", optimizer="adam", samples=56, val_samples=16, batch_size=4, epochs=3,
                        dropout=p, seed=seed, device=device)  # fmt: skip
    return Trainer(ModelConfig(seq_len=6, n_heads=2, n_layers=2, d_model=16, d_ff=32, norm_first=True), train)


def test_training_steps_drop_evaluation_and_probes_do_not():
    with_dropout, without = reverse_trainer(0.5), reverse_trainer(0.0)
    val = with_dropout.task.val_tokens, with_dropout.task.val_targets
    assert with_dropout.evaluate(*val) == without.evaluate(*val)  # the same parameters, the same figures
    a, b = with_dropout.probe(), without.probe()
    assert np.array_equal(a.probs, b.probs) and np.array_equal(a.attention, b.attention)
    tokens, targets = with_dropout.batch(0)
    clean = with_dropout.model.loss_and_grads(tokens, targets)[0]
    report = with_dropout.step()
    assert report.loss != clean  # the step's loss was measured with masks on
    end = with_dropout.run_epoch()
    logits = to_numpy(with_dropout.model.forward(val[0])[0]).astype(np.float64)  # (N, T, V) no masks
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))  # (N, T, V)
    counted = val[1] != -1
    expected = -np.take_along_axis(logp, np.where(counted, val[1], 0)[..., None], -1)[..., 0][counted].mean()
    assert end.val_loss == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(end.probe.attention.sum(-1), 1.0, rtol=1e-5)  # undropped weights: rows sum to 1


def test_same_config_same_run_and_a_resumed_run_is_bit_identical(tmp_path):
    uninterrupted = reverse_trainer(0.3)
    expected = [uninterrupted.step().loss for _ in range(30)]
    for config, same in (((0.3,), True), ((0.3, 1), False), ((0.0,), False)):
        other = reverse_trainer(*config)
        assert ([other.step().loss for _ in range(30)] == expected) == same, config
    first = reverse_trainer(0.3)
    got = [first.step().loss for _ in range(17)]  # stop mid-epoch (14 steps an epoch)
    checkpoint.save(tmp_path / "mid.npz", first)
    resumed = reverse_trainer(0.3)
    checkpoint.restore(resumed, checkpoint.load(tmp_path / "mid.npz"))
    got += [resumed.step().loss for _ in range(13)]
    assert got == expected
    for name, p in uninterrupted.model.params.items():
        assert np.array_equal(p, resumed.model.params[name]), name


def test_each_step_draws_its_own_masks_from_seed_and_step():
    a, b = reverse_trainer(0.5), reverse_trainer(0.5)
    first = a.dropout(5).masks([(4, 6)], np.float32)[0]
    assert np.array_equal(first, b.dropout(5).masks([(4, 6)], np.float32)[0])
    assert not np.array_equal(first, a.dropout(6).masks([(4, 6)], np.float32)[0])
    assert not np.array_equal(first, reverse_trainer(0.5, seed=1).dropout(5).masks([(4, 6)], np.float32)[0])


def test_the_memory_estimate_counts_the_masks():
    """Long sequences and many heads: the attention masks are most of a step's memory. Without
    them the estimate fell to 0.67 of the real peak; the bound here is tighter than the
    factor of two of tests/engine/test_memory.py, so it fails without them."""
    from .test_memory import measured_peak

    cfg = ModelConfig(vocab_size=16, seq_len=128, d_model=16, n_heads=8, n_layers=2, d_ff=32)
    train = TrainConfig(task="copy", optimizer="sgd", batch_size=16, samples=32, val_samples=8, dropout=0.1)
    estimate = training_bytes(cfg, 16, "sgd", 8, dropout=True)
    assert estimate > training_bytes(cfg, 16, "sgd", 8)
    assert 0.8 < estimate / measured_peak(cfg, train) < 2.0


# --------------------------------------------------------------------------- the "GPU"
def test_on_the_gpu_masks_are_device_arrays_and_the_numbers_are_the_cpus(fake_gpu):
    cfg = ModelConfig(dtype="float64", **MODELS["post-LN, causal, ReLU"])
    tokens, targets = batch(cfg)
    cpu_loss, cpu_grads = TransformerEncoder(cfg, seed=1).loss_and_grads(
        tokens, targets, Dropout(0.3, np.random.default_rng(2))
    )
    gpu = TransformerEncoder(cfg, seed=1, device="gpu")
    _, cache = gpu.forward(tokens, dropout=Dropout(0.3, np.random.default_rng(2)))
    assert all(isinstance(m, fake_gpu.ndarray) for m in cache.blocks[0].drop)
    loss, grads = gpu.loss_and_grads(tokens, targets, Dropout(0.3, np.random.default_rng(2)))
    assert loss == pytest.approx(cpu_loss, rel=1e-12)
    for key, g in grads.items():
        np.testing.assert_allclose(to_numpy(g), cpu_grads[key], rtol=1e-9, atol=1e-12)
    gpu_run, cpu_run = reverse_trainer(0.3, device="gpu"), reverse_trainer(0.3)
    assert gpu_run.run_epoch().loss == pytest.approx(cpu_run.run_epoch().loss, rel=1e-5)
