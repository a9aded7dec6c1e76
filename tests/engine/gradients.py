"""Shared helpers for the gradient tests: compare with finite differences (printing the table
on failure), compare two sets of gradients entry by entry (float32 against float64, GPU
against CPU, ours against PyTorch's), a small model trained to a tiny loss, and the check of
every entry of it and of a fresh model, each made once for the tests that read it."""

from __future__ import annotations

import functools

import numpy as np

from engine import ModelConfig, TransformerEncoder
from engine.config import TrainConfig
from engine.gradcheck import GradcheckReport, check, check_model
from engine.training.trainer import Trainer

TRAINED_STEPS = 1200  # Adam at lr 1e-2 on the reverse task: the loss falls to about 1e-4

FLOOR = 1e-3  # the smallest scale, as a fraction of the largest gradient of any tensor


def max_norm_error(ours: dict, reference: dict) -> dict[str, float]:
    """Per tensor, max |difference| over the reference tensor's largest entry, floored at
    FLOOR times the largest entry of any tensor: two computed gradients both carry rounding,
    and a tensor whose exact gradient is zero (the key bias) is all rounding."""
    largest = max(np.abs(r).max() for r in reference.values())
    return {k: float(np.abs(ours[k] - r).max() / max(np.abs(r).max(), FLOOR * largest)) for k, r in reference.items()}


def assert_gradients(f, tensors: dict, max_entries: int | None = None, seed: int = 0) -> GradcheckReport:
    """tensors: name -> (f, x, analytic) or (x, analytic) with the shared f."""
    full = {name: t if len(t) == 3 else (f, *t) for name, t in tensors.items()}
    report = GradcheckReport(check(full, max_entries=max_entries, seed=seed))
    assert report.passed, "\n" + report.table()
    return report


def random_upstream(f_forward, dy):
    """The scalar loss sum(y * dy) whose gradient w.r.t. y is dy: what a component test checks."""
    return lambda: float(np.sum(f_forward() * dy))


@functools.cache
def trained_reverse() -> Trainer:
    """A small model (2 layers, 2 heads, width 16, 5,108 parameters) trained on the reverse
    task with Adam at a raised rate until its loss is about 1e-4, in under 2 s: where a
    tolerance on raw finite differences cries wolf (rounding, near-zero gradients, ReLU
    kinks). Trained once per session; callers must not train or change it."""
    model_cfg = ModelConfig(seq_len=6, n_layers=2, n_heads=2, d_model=16, d_ff=32)
    train_cfg = TrainConfig(task="reverse", optimizer="adam", lr=1e-2, samples=256, val_samples=32,
                            batch_size=32, epochs=TRAINED_STEPS // 8)  # fmt: skip
    trainer = Trainer(model_cfg, train_cfg)
    for _ in range(TRAINED_STEPS):
        trainer.step()
    return trainer


def trained_batch() -> tuple:
    """(model, tokens, targets): the trained model and two of its training sequences, (2, T)."""
    trainer = trained_reverse()
    return trainer.model, trainer.task.train_tokens[:2], trainer.task.train_targets[:2]


def batch(cfg: ModelConfig, B: int = 3, T: int | None = None, seed: int = 0):
    """Random (tokens, targets) (B, T) for cfg (T: its seq_len by default), two targets ignored."""
    rng = np.random.default_rng(seed)
    T = T or cfg.seq_len
    tokens = rng.integers(0, cfg.vocab_size, (B, T))
    targets = rng.integers(0, cfg.vocab_size, (B, T))
    targets[0, 1] = targets[-1, -1] = -1  # ignored positions
    return tokens, targets


def fresh(seed: int = 0, B: int = 3):
    """A fresh float64 default model and a batch with two ignored targets."""
    cfg = ModelConfig(dtype="float64")
    return TransformerEncoder(cfg, seed=seed), *batch(cfg, B, seed=seed)


@functools.cache
def checked_in_every_entry(state: str) -> GradcheckReport:
    """check_model in every entry, no bug planted, of fresh() ("fresh") or of trained_batch()
    ("trained"): the same check for every test that reads it, so it is run once a session.
    Callers read the report and must not change it."""
    model, tokens, targets = fresh() if state == "fresh" else trained_batch()
    return check_model(model, tokens, targets, max_entries=None)
