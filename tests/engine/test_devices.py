"""The device plumbing: NumPy by default and CuPy only when asked; clear errors without a
GPU; on the "GPU" (a NumPy-backed stand-in for CuPy, tests/engine/fake_cupy.py) every array
stays on the device, only small things come to the host, and checkpoints are host arrays."""

import subprocess
import sys

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig, TransformerEncoder
from engine.gradcheck import check_model
from engine.runtime.backend import DeviceError, get_backend, to_numpy
from engine.training import checkpoint
from engine.training.trainer import Trainer

from . import fake_cupy
from .gradients import batch
from .test_model import CONFIGS


def test_the_cpu_path_never_imports_cupy():
    code = (
        "import sys; from engine import ModelConfig, TrainConfig; from engine.training.trainer import Trainer; "
        "t = Trainer(ModelConfig(), TrainConfig(samples=20, batch_size=4)); t.run_epoch(); "
        "import tfnp_tui.app; assert 'cupy' not in sys.modules, 'cupy imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_cupy_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(DeviceError, match=r"the GPU needs CuPy, which is not installed: pip install 'tfnp\[gpu\]'"):
        get_backend("gpu")


@pytest.mark.parametrize("count, broken, message", [(0, False, "no GPU is visible"), (1, True, "no GPU is usable")])
def test_without_a_gpu_the_error_says_so(monkeypatch, count, broken, message):
    cupy, cupyx = fake_cupy.make_modules(device_count=count, broken=broken)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    with pytest.raises(DeviceError, match=message):
        get_backend("gpu")


@pytest.mark.parametrize("name", CONFIGS)
def test_the_gpu_model_computes_what_the_cpu_model_does(fake_gpu, name):
    cfg = ModelConfig(dtype="float64", **CONFIGS[name])
    tokens, targets = batch(cfg)
    cpu_loss, cpu_grads = TransformerEncoder(cfg, seed=1).loss_and_grads(tokens, targets)
    gpu = TransformerEncoder(cfg, seed=1, device="gpu")
    assert isinstance(gpu.flat, fake_gpu.ndarray)
    loss, grads = gpu.loss_and_grads(tokens, targets)
    assert isinstance(loss, float) and loss == pytest.approx(cpu_loss, rel=1e-12)
    for key, g in grads.items():
        assert isinstance(g, fake_gpu.ndarray), key
        np.testing.assert_allclose(to_numpy(g), cpu_grads[key], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "adamw"])
def test_training_on_the_gpu_brings_only_reports_to_the_host(fake_gpu, optimizer):
    train = TrainConfig(task="reverse", optimizer=optimizer, samples=40, val_samples=10, batch_size=8, device="gpu")
    cfg = ModelConfig(seq_len=6, n_heads=2, n_layers=2, causal=True)
    trainer = Trainer(cfg, train)
    report = trainer.run_epoch()
    assert isinstance(report.probe.attention, np.ndarray) and not isinstance(report.probe.attention, fake_gpu.ndarray)
    assert isinstance(report.probe.probs, np.ndarray) and not isinstance(report.probe.probs, fake_gpu.ndarray)
    assert all(isinstance(v, float) for v in report.grad_norms.values())
    cpu = Trainer(cfg, TrainConfig(**{**train.to_dict(), "device": "cpu"}))
    assert report.loss == pytest.approx(cpu.run_epoch().loss, rel=1e-5)


def test_a_gpu_checkpoint_loads_on_the_cpu_and_back(fake_gpu, tmp_path):
    train = TrainConfig(optimizer="adam", samples=20, val_samples=10, batch_size=4, device="gpu")
    gpu = Trainer(ModelConfig(), train)
    for _ in range(3):
        gpu.step()
    checkpoint.save(tmp_path / "gpu.npz", gpu)
    with np.load(tmp_path / "gpu.npz", allow_pickle=False) as z:
        assert type(z["embed"]) is np.ndarray
    cpu = Trainer(ModelConfig(), TrainConfig(**{**train.to_dict(), "device": "cpu"}))
    checkpoint.restore(cpu, checkpoint.load(tmp_path / "gpu.npz"))
    assert all(np.array_equal(to_numpy(gpu.model.params[k]), v) for k, v in cpu.model.params.items())
    assert cpu.step().loss == pytest.approx(gpu.step().loss, rel=1e-5)  # optimizer state came along
    checkpoint.save(tmp_path / "cpu.npz", cpu)
    back = Trainer(ModelConfig(), train)
    checkpoint.restore(back, checkpoint.load(tmp_path / "cpu.npz"))
    assert isinstance(back.model.flat, fake_gpu.ndarray)


def test_the_gradient_check_of_a_gpu_model_runs_on_a_cpu_copy(fake_gpu):
    cfg = ModelConfig(n_heads=2)
    report = check_model(TransformerEncoder(cfg, device="gpu"), *batch(cfg), max_entries=8)
    assert report.passed, report.table()


def test_the_command_line_trains_on_the_gpu(fake_gpu, capsys):
    from tfnp_tui.cli import main

    status = main(["--headless", "--device", "gpu", "--samples", "20", "--batch-size", "4", "--epochs", "1"])
    out = capsys.readouterr().out
    assert status == 0 and "gpu" in out and "done: 1 epoch," in out
