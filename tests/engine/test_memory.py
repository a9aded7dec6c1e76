"""The memory estimate that lets the command line refuse a model too large for the machine,
against what NumPy really allocates (tracemalloc sees every NumPy array)."""

import tracemalloc

import pytest

from engine import ModelConfig, TrainConfig
from engine.memory import machine_bytes, training_bytes
from engine.trainer import Trainer, eval_batch_size


def measured_peak(cfg: ModelConfig, train: TrainConfig) -> int:
    tracemalloc.start()
    try:
        Trainer(cfg, train).run_epoch()  # the training steps and the evaluation at the epoch's end
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "model, train",
    [
        (dict(vocab_size=64, seq_len=32, d_model=64, n_heads=4, n_layers=2, d_ff=256),
         dict(batch_size=64, samples=128, val_samples=32)),  # the training step is the peak
        (dict(vocab_size=64, seq_len=32, d_model=64, n_heads=4, n_layers=2, d_ff=256),
         dict(batch_size=8, samples=16, val_samples=256)),  # evaluating 256 sequences is the peak
        (dict(vocab_size=32, seq_len=64, d_model=32, n_heads=2, n_layers=1, d_ff=64, dtype="float64"),
         dict(batch_size=32, samples=64, val_samples=32)),
    ],
)  # fmt: skip
def test_the_estimate_is_within_a_factor_of_two_of_the_real_peak(model, train):
    cfg, train_cfg = ModelConfig(**model), TrainConfig(task="copy", optimizer="adam", **train)
    evaluation = min(eval_batch_size(cfg.seq_len), train_cfg.val_samples)
    estimate = training_bytes(cfg, train_cfg.batch_size, "adam", evaluation)
    assert 0.5 < estimate / measured_peak(cfg, train_cfg) < 2.0


def test_more_of_anything_needs_more_memory():
    base = ModelConfig(seq_len=16)
    small = training_bytes(base, 8, "sgd")
    assert training_bytes(base, 16, "sgd") > small
    assert training_bytes(base, 8, "adam") > small
    assert training_bytes(ModelConfig(seq_len=16, dtype="float64"), 8, "sgd") == 2 * small
    assert machine_bytes() is None or machine_bytes() > 2**28


def test_long_sequences_are_evaluated_in_smaller_passes():
    assert [eval_batch_size(T) for T in (4, 32, 128, 100_000)] == [256, 256, 64, 1]
    cfg = ModelConfig(vocab_size=16, seq_len=128, d_model=16, n_heads=2, d_ff=32)
    train = TrainConfig(task="copy", batch_size=4, samples=8, val_samples=256)
    estimate = training_bytes(cfg, 4, "sgd", min(eval_batch_size(128), 256))
    assert 0.5 < estimate / measured_peak(cfg, train) < 2.0
