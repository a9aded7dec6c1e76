"""A training step on the GPU brings nothing to the host unless its report is due, and then
one transfer: counted on the CuPy stand-in (tests/engine/fake_cupy.py COUNTS), which counts
every .get(), float(), int() and bool() of a device array. A step refused on the device
(not finite) changes nothing, and the next report says so as the CPU says it at once."""

import dataclasses

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.runtime.backend import to_numpy
from engine.training.evaluation import evaluate
from engine.training.trainer import Trainer, TrainingDiverged

from .fake_cupy import COUNTS

CFG = ModelConfig(seq_len=6, n_heads=2, n_layers=2, causal=True)


def trainer(device: str, **train) -> Trainer:
    train = {"task": "reverse", "optimizer": "adam", "samples": 64, "val_samples": 16, "batch_size": 8,
             "clip": 1.0, "device": device, **train}  # fmt: skip
    return Trainer(CFG, TrainConfig(**train))


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_a_step_without_a_report_brings_nothing_to_the_host_and_a_report_one_transfer(fake_gpu, optimizer, dropout):
    t = trainer("gpu", optimizer=optimizer, dropout=dropout)
    t.step()  # the first step makes the optimizer's state and the epoch's order
    COUNTS.clear()
    for _ in range(3):
        assert t.step(report=False) is None
    assert COUNTS["to_host"] == 0
    assert COUNTS["to_device"] == (0 if dropout == 0 else 3)  # dropout's masks, drawn on the host: one copy a step
    COUNTS.clear()
    report = t.step()
    assert COUNTS["to_host"] == 1 and report.step == 5
    COUNTS.clear()
    earlier = t.reports()  # nothing pending: nothing to fetch
    assert earlier == [] and COUNTS["to_host"] == 0


def test_the_reports_of_unreported_steps_are_the_cpus_and_come_in_one_transfer(fake_gpu):
    gpu, cpu = trainer("gpu"), trainer("cpu")
    cpu_reports = [cpu.step() for _ in range(4)]
    for _ in range(4):
        gpu.step(report=False)
    COUNTS.clear()
    reports = gpu.reports()
    assert COUNTS["to_host"] == 1
    assert [r.step for r in reports] == [1, 2, 3, 4]
    for r, c in zip(reports, cpu_reports):  # the GPU sums each tensor in another order: float32 rounding
        assert r.loss == pytest.approx(c.loss, rel=1e-6) and r.acc == c.acc and r.lr == c.lr
        assert r.grad_norm == pytest.approx(c.grad_norm, rel=1e-6)
        assert r.update_ratios == pytest.approx(c.update_ratios, rel=1e-5)


def test_an_epoch_on_the_gpu_takes_no_transfer_per_step_and_evaluates_in_one(fake_gpu):
    t = trainer("gpu")
    t.step()
    COUNTS.clear()
    steps = t.steps_per_epoch - 1
    report = t.run_epoch()
    assert report.epoch == 1
    assert COUNTS["to_host"] == 1 + 1 + 2  # the epoch's figures, the evaluation, the probe (analysis, embeddings)
    assert steps > 4
    COUNTS.clear()
    evaluate(t.model, t.task.val_tokens, t.task.val_targets)
    assert COUNTS["to_host"] == 1  # however many batches: the sums stay on the device
    COUNTS.clear()
    t.probe()
    assert COUNTS["to_host"] == 2


def poisoned(t: Trainer, at: int) -> Trainer:
    """From 0-based step `at` on, the loss the model returns is nan (as if a layer had broken)."""
    real = t.model.forward_backward

    def forward_backward(tokens, targets, dropout=None, grad_out=None):
        loss, grads, logits = real(tokens, targets, dropout, grad_out)
        return (loss * np.nan if t.step_count >= at else loss), grads, logits

    t.model.forward_backward = forward_backward
    return t


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_step_refused_on_the_gpu_changes_nothing_and_the_next_report_says_what_the_cpu_says(fake_gpu, optimizer):
    cpu, gpu = poisoned(trainer("cpu", optimizer=optimizer), 3), poisoned(trainer("gpu", optimizer=optimizer), 3)
    for _ in range(3):
        cpu.step()
        gpu.step(report=False)
    params = gpu.model.params_numpy()  # the last good step's
    state = {kind: to_numpy(a) for kind, a in gpu.optimizer.state_arrays().items()}
    with pytest.raises(TrainingDiverged) as on_cpu:
        cpu.step()
    for _ in range(2):  # the refused step 4 and step 5 run on the device, unknown to the host
        gpu.step(report=False)
    COUNTS.clear()
    with pytest.raises(TrainingDiverged) as on_gpu:
        gpu.step()  # step 6: its report fetches the figures of steps 4, 5 and 6
    assert COUNTS["to_host"] == 1
    assert str(on_gpu.value) == str(on_cpu.value) and "step 4: the loss is nan" in str(on_gpu.value)
    assert (on_gpu.value.step, on_gpu.value.what) == (on_cpu.value.step, on_cpu.value.what)
    assert gpu.step_count == cpu.step_count == 3 and gpu.optimizer.t == cpu.optimizer.t == 3
    for name, value in params.items():
        np.testing.assert_array_equal(gpu.model.params_numpy()[name], value, err_msg=name)
    for kind, value in state.items():
        np.testing.assert_array_equal(to_numpy(gpu.optimizer.state_arrays()[kind]), value, err_msg=kind)
    good = [r.loss for r in gpu.reports()]
    assert len(good) == 3 and all(np.isfinite(good))  # the steps before it are reported


def test_after_a_refusal_the_gpu_trains_on_as_if_the_step_had_never_been_tried(fake_gpu):
    gpu, twin = trainer("gpu"), trainer("gpu")
    for _ in range(2):
        gpu.step(report=False)
        twin.step(report=False)
    good_cfg = gpu.train_cfg
    gpu.train_cfg = dataclasses.replace(good_cfg, lr=1e39)  # inf once cast to float32
    with pytest.raises(TrainingDiverged, match=r"step 3: the update is not finite at lr 1e\+39.*parameters of step 2"):
        gpu.step()
    gpu.train_cfg = good_cfg
    assert [gpu.step().loss for _ in range(3)] == [twin.step().loss for _ in range(3)]


def test_a_checkpoints_position_fetches_the_pending_figures_first(fake_gpu):
    gpu, cpu = trainer("gpu"), trainer("cpu")
    for _ in range(3):
        gpu.step(report=False)
        cpu.step()
    position, expected = gpu.position(), cpu.position()
    assert position["epoch_totals"]["steps"] == 3
    assert position["epoch_totals"]["loss"] == pytest.approx(expected["epoch_totals"]["loss"], rel=1e-12)
