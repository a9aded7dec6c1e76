"""The memory estimate that lets the command line refuse a model too large for the machine,
against what NumPy really allocates (tracemalloc sees every NumPy array)."""

import dataclasses
import tracemalloc

import pytest

from engine import ModelConfig, TrainConfig
from engine.runtime.memory import eval_batch_size, training_bytes
from engine.training.trainer import Trainer


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
         dict(optimizer="adam", batch_size=64, samples=128, val_samples=32)),  # the training step is the peak
        (dict(vocab_size=64, seq_len=32, d_model=64, n_heads=4, n_layers=2, d_ff=256),
         dict(optimizer="adam", batch_size=8, samples=16, val_samples=256)),  # evaluating 256 sequences is
        (dict(vocab_size=32, seq_len=64, d_model=32, n_heads=2, n_layers=1, d_ff=64, dtype="float64"),
         dict(optimizer="momentum", batch_size=32, samples=64, val_samples=32)),
        (dict(vocab_size=16, seq_len=128, d_model=16, n_heads=2, d_ff=32),
         dict(optimizer="sgd", batch_size=4, samples=8, val_samples=256)),  # long: evaluated 64 at a time
        (dict(vocab_size=16, seq_len=4, d_model=512, n_heads=8, n_layers=2, d_ff=1024),
         dict(optimizer="adamw", batch_size=2, samples=4, val_samples=4)),  # the parameters are the peak
    ],
)  # fmt: skip
def test_the_estimate_is_within_a_factor_of_two_of_the_real_peak(model, train):
    cfg, train_cfg = ModelConfig(**model), TrainConfig(task="copy", **train)
    estimate = training_bytes(cfg, train_cfg.batch_size, train_cfg.optimizer, train_cfg.val_samples)
    assert 0.5 < estimate / measured_peak(cfg, train_cfg) < 2.0


def test_long_sequences_are_evaluated_in_smaller_passes():
    assert [eval_batch_size(T) for T in (4, 32, 128, 100_000)] == [256, 256, 64, 1]


def test_more_of_anything_needs_more_memory():
    base = ModelConfig(seq_len=16)
    small = training_bytes(base, 8, "sgd")
    assert training_bytes(base, 16, "sgd") > small
    assert training_bytes(base, 8, "adam") > small
    assert training_bytes(base, 8, "sgd", val_samples=256) > small
    assert training_bytes(ModelConfig(seq_len=16, dtype="float64"), 8, "sgd") == 2 * small


def test_the_estimate_counts_what_gelu_keeps():
    """GELU keeps its tanh for the backward, which takes three more (N, F) temporaries: the
    estimate counts them (it is above the same model's with ReLU) and stays close to the real
    peak of this pre-LN GELU model with dropout (0.77 of it before they and the workspace were
    counted; 1.18 now)."""
    cfg = ModelConfig(vocab_size=64, seq_len=32, d_model=64, n_heads=4, n_layers=2, d_ff=256, norm_first=True,
                      activation="gelu")  # fmt: skip
    train = TrainConfig(task="copy", optimizer="adam", batch_size=64, samples=128, val_samples=32, dropout=0.1)
    estimate = training_bytes(cfg, 64, "adam", 32, dropout=True)
    assert estimate > training_bytes(dataclasses.replace(cfg, activation="relu"), 64, "adam", 32, dropout=True)
    assert 0.85 < estimate / measured_peak(cfg, train) < 1.5
