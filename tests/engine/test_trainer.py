"""The Trainer: it learns, it is deterministic, it reports, and it stops cleanly on divergence."""

import dataclasses

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.training.trainer import Trainer, TrainingDiverged


def small(model=None, **train):
    cfg = TrainConfig(**{"samples": 40, "val_samples": 20, "batch_size": 4, **train})
    return Trainer(ModelConfig(**(model or {})), cfg)


def losses(trainer, n):
    return [trainer.step().loss for _ in range(n)]


def test_the_original_setup_learns_the_next_task():
    trainer = Trainer(ModelConfig(), TrainConfig())
    for _ in range(8):
        report = trainer.run_epoch()
    assert report.acc == 1.0 and report.loss < 0.05
    assert report.val_acc > 0.95


def test_same_seed_bit_identical_losses_other_seed_different():
    a, b = small(optimizer="adam"), small(optimizer="adam")
    assert losses(a, 25) == losses(b, 25)
    assert losses(small(optimizer="adam", seed=1), 25) != losses(small(optimizer="adam"), 25)


def test_step_report():
    trainer = small()
    report = trainer.step()
    assert (report.step, report.epoch) == (1, 1)
    assert report.epoch_report is None
    assert list(report.grad_norms) == list(trainer.model.params)
    assert list(report.update_ratios) == list(trainer.model.params)
    total = np.sqrt(sum(v**2 for v in report.grad_norms.values()))
    assert report.grad_norm == pytest.approx(total, rel=1e-6)
    # plain SGD: |u| / |w| = lr |g| / |w_after|
    w = np.linalg.norm(trainer.model.params["head.w"])
    assert report.update_ratios["head.w"] == pytest.approx(0.01 * report.grad_norms["head.w"] / w, rel=1e-5)
    assert 0 <= report.acc <= 1 and report.lr == 0.01


def test_epoch_report_comes_with_the_last_step_of_each_epoch():
    trainer = small()  # 40 samples, batch 4: 10 steps an epoch
    reports = [trainer.step() for _ in range(20)]
    ends = [r.step for r in reports if r.epoch_report is not None]
    assert ends == [10, 20]
    assert [r.epoch for r in reports[8:12]] == [1, 1, 2, 2]
    epoch = reports[9].epoch_report
    assert (epoch.epoch, epoch.step) == (1, 10)
    assert epoch.loss == pytest.approx(np.mean([r.loss for r in reports[:10]]), rel=1e-9)  # equal batches
    assert set(epoch.metrics()) == {"epoch", "step", "loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "seconds",
                                    "lr_scale"}  # fmt: skip
    assert epoch.probe.attention.shape == (1, 1, 4, 4)
    assert epoch.probe.probs.shape == (4, 20)
    ids, probs = epoch.probe.top(3)
    assert ids.shape == (4, 3) and np.all(np.diff(probs, axis=1) <= 0)


def test_each_epoch_visits_every_training_sample_once():
    trainer = small(batch_size=7)  # 40 samples: 5 full batches and one of 5
    assert trainer.steps_per_epoch == 6
    rows = np.concatenate([trainer.batch(s)[0] for s in range(6)])
    assert sorted(map(bytes, rows)) == sorted(map(bytes, trainer.task.train_tokens))
    assert not np.array_equal(trainer.batch(0)[0], trainer.batch(6)[0])  # reshuffled next epoch


def test_schedule_is_used():
    trainer = small(schedule="cosine", warmup=5, epochs=2)
    reports = [trainer.step() for _ in range(20)]
    assert [round(r.lr / 0.01, 6) for r in reports[:5]] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert reports[-1].lr < reports[5].lr


@pytest.mark.parametrize("clip", [0.0, 0.01, 1e6])
def test_clip_scales_the_step_to_the_clip_norm(clip):
    trainer = small(model={"dtype": "float64"}, clip=clip)
    before = trainer.model.flat.copy()
    _, grads = trainer.model.loss_and_grads(*trainer.batch(0))
    g = trainer.model.layout.flatten(grads)  # the gradient the step will see, by hand
    report = trainer.step()
    norm = np.linalg.norm(g)
    assert report.grad_norm == pytest.approx(norm, rel=1e-12)  # reported before clipping
    scale = clip / (norm + 1e-6) if 0 < clip < norm else 1.0
    np.testing.assert_allclose(before - trainer.model.flat, 0.01 * scale * g, rtol=1e-10, atol=1e-15)
    if clip == 0.01:
        assert norm > 0.01  # so the clip acted (by clip / (norm + 1e-6), as torch's clip_grad_norm_)
        # and the step is lr * clip = 1e-4 long
        assert np.linalg.norm(before - trainer.model.flat) == pytest.approx(1e-4, rel=1e-6)


def test_probe_of_a_typed_sequence():
    trainer = small(task="reverse")
    report = trainer.probe(np.array([[1, 2, 3]]))
    np.testing.assert_array_equal(report.targets, [3, 2, 1])
    assert report.attention.shape == (1, 1, 3, 3)


def test_a_non_finite_update_stops_before_anything_changes():
    trainer = small(lr=1e35)
    before = trainer.model.params_numpy()
    with pytest.raises(TrainingDiverged, match=r"step 1: the update is not finite.*parameters of step 0"):
        trainer.step()
    assert all(np.array_equal(before[k], v) for k, v in trainer.model.params_numpy().items())
    assert trainer.step_count == 0


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw"])
def test_a_refused_step_leaves_the_optimizer_state_as_it_was(optimizer):
    trainer, twin = small(optimizer=optimizer), small(optimizer=optimizer)
    assert losses(trainer, 3) == losses(twin, 3)
    state = {kind: a.copy() for kind, a in trainer.optimizer.state_arrays().items()}
    good_cfg = trainer.train_cfg
    trainer.train_cfg = dataclasses.replace(good_cfg, lr=1e39)  # inf once cast to float32
    with pytest.raises(TrainingDiverged, match="the update is not finite"):
        trainer.step()
    assert trainer.optimizer.t == 3 and trainer.step_count == 3
    for kind, a in trainer.optimizer.state_arrays().items():
        np.testing.assert_array_equal(a, state[kind])
    trainer.train_cfg = good_cfg
    assert losses(trainer, 5) == losses(twin, 5)  # as if the refused step had never been tried


def test_a_non_finite_loss_names_the_step_and_keeps_the_last_good_parameters():
    trainer = small()
    losses(trainer, 3)
    trainer.model.params["head.b"][0] = np.nan  # as if something upstream had gone wrong
    good = trainer.model.params_numpy()
    with pytest.raises(TrainingDiverged, match=r"step 4: the loss is nan.*parameters of step 3"):
        trainer.step()
    after = trainer.model.params_numpy()
    assert all(np.array_equal(good[k], after[k], equal_nan=True) for k in good)
    assert trainer.step_count == 3


def test_the_text_task_needs_a_causal_model(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefgh " * 40)
    train = TrainConfig(task="text", data=str(path), samples=20, val_samples=5)
    with pytest.raises(ValueError, match="causal: the text task needs a causal model"):
        Trainer(ModelConfig(vocab_size=9), train)
    trainer = Trainer(ModelConfig(vocab_size=9, causal=True), train)
    assert trainer.step().loss > 0
