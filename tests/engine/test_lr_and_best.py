"""The live learning-rate factor (Trainer.lr_scale) and the best epoch (engine/training/best.py):
the factor changes the update exactly, travels in reports, metrics and checkpoints; the best
epoch follows the validation losses, and --patience's stop comes at the right epoch."""

import dataclasses
import math

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.training import checkpoint
from engine.training.best import BestEpoch
from engine.training.checkpoint import CheckpointError
from engine.training.optim import learning_rate
from engine.training.trainer import LR_SCALE_LIMITS, Trainer


def small(**train) -> Trainer:
    cfg = TrainConfig(**{"samples": 40, "val_samples": 10, "batch_size": 4, **train})
    return Trainer(ModelConfig(), cfg)


@pytest.mark.parametrize("train", [
    {"optimizer": "sgd", "lr": 0.1},
    {"optimizer": "adam", "lr": 0.01, "schedule": "cosine", "warmup": 5, "epochs": 2},
])  # fmt: skip
def test_the_factor_changes_the_update_exactly_as_that_rate_would(train):
    scale = 0.25
    scaled, plain = small(**train), small(**train)
    for _ in range(3):
        scaled.step(), plain.step()
    scaled.lr_scale = scale
    report = scaled.step()
    cfg = plain.train_cfg
    expected_lr = learning_rate(3, cfg.lr, cfg.schedule, cfg.warmup, plain.total_steps) * scale  # step 4's
    assert report.lr == expected_lr and report.lr_scale == scale
    plain.train_cfg = dataclasses.replace(cfg, lr=cfg.lr * scale)  # the same step at the rate lr * s
    plain.step()
    assert np.array_equal(scaled.model.flat, plain.model.flat)
    before = scaled.model.flat.copy()
    scaled.lr_scale = 1.0  # and back: the schedule's own rate again
    assert scaled.step().lr == learning_rate(4, cfg.lr, cfg.schedule, cfg.warmup, plain.total_steps)
    assert not np.array_equal(before, scaled.model.flat)


def test_the_factor_is_in_the_reports_and_the_metrics_line():
    trainer = small(lr=0.05)
    trainer.lr_scale = 0.5
    end = trainer.run_epoch()
    assert end.lr_scale == 0.5 and end.lr == 0.025
    line = end.metrics()
    assert line["lr_scale"] == 0.5 and line["lr"] == 0.025
    assert set(line) >= {"epoch", "step", "loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "seconds"}


@pytest.mark.parametrize("bad", [LR_SCALE_LIMITS[0] / 2, LR_SCALE_LIMITS[1] * 2, 0.0, -1.0, math.nan, math.inf])
def test_a_factor_past_the_limits_is_refused_and_changes_nothing(bad):
    trainer = small()
    trainer.lr_scale = 4.0
    with pytest.raises(ValueError, match="lr_scale must be between 1/1024 and 1024"):
        trainer.lr_scale = bad
    assert trainer.lr_scale == 4.0
    trainer.lr_scale = LR_SCALE_LIMITS[0]  # the limits themselves are fine
    trainer.lr_scale = LR_SCALE_LIMITS[1]


def test_a_resumed_run_goes_on_at_the_scaled_rate_bit_identically(tmp_path):
    def run(trainer, steps):
        out = []
        for _ in range(steps):
            if trainer.step_count == 5:
                trainer.lr_scale = 0.5
            out.append(trainer.step())
        return out

    uninterrupted = small(optimizer="adam", lr=0.01)
    expected = [r.loss for r in run(uninterrupted, 40)]
    first = small(optimizer="adam", lr=0.01)
    got = [r.loss for r in run(first, 17)]  # mid-epoch, after the change
    checkpoint.save(tmp_path / "mid.npz", first)
    saved = checkpoint.load(tmp_path / "mid.npz")
    assert saved.position["lr_scale"] == 0.5
    assert saved.position["best"] == {"epoch": 1, "step": 10, "val_loss": first.best.val_loss}
    resumed = small(optimizer="adam", lr=0.01)
    checkpoint.restore(resumed, saved)
    assert resumed.lr_scale == 0.5 and resumed.best == first.best
    reports = [resumed.step() for _ in range(23)]
    assert got + [r.loss for r in reports] == expected
    assert all(r.lr == 0.005 and r.lr_scale == 0.5 for r in reports)
    assert np.array_equal(resumed.model.flat, uninterrupted.model.flat)
    assert resumed.best == uninterrupted.best


def test_a_checkpoint_from_before_the_factor_goes_on_at_1_and_a_bad_one_is_named(tmp_path):
    trainer = small()
    trainer.lr_scale = 2.0
    trainer.run_epoch()
    checkpoint.save(tmp_path / "c.npz", trainer)
    old = checkpoint.load(tmp_path / "c.npz")
    del old.position["lr_scale"], old.position["best"]
    fresh = small()
    checkpoint.restore(fresh, old)
    assert fresh.lr_scale == 1.0 and fresh.best == BestEpoch() and fresh.step_count == 10
    for key, value in (("lr_scale", 0.0), ("lr_scale", 1e9), ("best", {"epoch": 2, "step": 20, "val_loss": None}),
                       ("best", {"epoch": 0, "step": 0, "val_loss": 1.5})):  # fmt: skip
        bad = checkpoint.load(tmp_path / "c.npz")
        bad.position[key] = value
        other = small()
        with pytest.raises(CheckpointError, match="c.npz: its training position is corrupt"):
            checkpoint.restore(other, bad)
        assert other.lr_scale == 1.0 and other.step_count == 0  # nothing changed


def test_best_epoch_rules():
    best = BestEpoch()
    assert best.since(3) == 3 and best.to_dict() == {"epoch": 0, "step": 0, "val_loss": None}
    assert not best.update(1, 10, math.nan) and not best.update(1, 10, math.inf)  # never a loss that is not finite
    assert best.update(2, 20, 1.5) and (best.epoch, best.step, best.val_loss) == (2, 20, 1.5)
    assert not best.update(3, 30, 1.5)  # equal is no new best
    assert not best.update(4, 40, 2.0) and best.since(4) == 2
    assert best.update(5, 50, 0.25) and best.since(5) == 0
    assert BestEpoch.from_dict(best.to_dict()) == best and BestEpoch.from_dict(None) == BestEpoch()


def test_the_epoch_reports_follow_the_validation_losses_and_patience():
    """Adam at 0.1 on this small task: the validation loss goes up and down, so there are epochs
    without a new best; what the reports say is checked against the losses themselves."""
    patience = 2
    trainer = small(optimizer="adam", lr=0.1, epochs=12, patience=patience)
    reports = [trainer.run_epoch() for _ in range(12)]
    losses = [r.val_loss for r in reports]
    lowest_before = [min(losses[:i], default=math.inf) for i in range(len(losses))]
    new_best = [loss < low for loss, low in zip(losses, lowest_before)]
    assert [r.new_best for r in reports] == new_best
    assert 2 <= sum(new_best) < len(reports)  # the run is one that has epochs without a new best
    for i, r in enumerate(reports):
        best = int(np.argmin(losses[: i + 1])) + 1  # 1-based, the first of equals
        assert (r.best_epoch, r.best_val_loss) == (best, losses[best - 1])
        assert r.out_of_patience == (r.epoch - best == patience)
    assert any(r.out_of_patience for r in reports)
