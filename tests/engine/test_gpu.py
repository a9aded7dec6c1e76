"""The engine on a real NVIDIA GPU through CuPy, against the CPU. Skipped without CuPy or a
GPU (CI has neither); run them with benchmarks/gpu_check.sh where there is one."""

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig, TransformerEncoder
from engine.runtime.backend import DeviceError, get_backend, to_numpy
from engine.training.trainer import Trainer

from .gradients import batch, max_norm_error
from .test_model import CONFIGS

try:
    get_backend("gpu")
except DeviceError as err:
    pytest.skip(f"no GPU: {err}", allow_module_level=True)

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("every_pass_fused")]  # no pass may run unfused here


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-4)])
@pytest.mark.parametrize("name", CONFIGS)
def test_gpu_loss_and_gradients_equal_the_cpu(name, dtype, tolerance):
    cfg = ModelConfig(dtype=dtype, **CONFIGS[name])
    tokens, targets = batch(cfg, B=4)
    cpu_loss, cpu_grads = TransformerEncoder(cfg, seed=4).loss_and_grads(tokens, targets)
    gpu_loss, gpu_grads = TransformerEncoder(cfg, seed=4, device="gpu").loss_and_grads(tokens, targets)
    assert gpu_loss == pytest.approx(cpu_loss, rel=tolerance)
    errors = max_norm_error({k: to_numpy(g).astype(np.float64) for k, g in gpu_grads.items()},
                            {k: g.astype(np.float64) for k, g in cpu_grads.items()})  # fmt: skip
    worst = max(errors, key=errors.get)
    assert errors[worst] <= tolerance, f"{worst}: {errors[worst]:.1e}"


def test_a_short_training_run_on_the_gpu_matches_the_cpu():
    cfg = ModelConfig(seq_len=8, n_heads=2, n_layers=2)
    runs = {}
    for device in ("cpu", "gpu"):
        trainer = Trainer(cfg, TrainConfig(task="reverse", optimizer="adam", samples=256, batch_size=32, device=device))
        runs[device] = [trainer.step().loss for _ in range(40)]
    np.testing.assert_allclose(runs["gpu"], runs["cpu"], rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_kernels_compute_what_their_numpy_definitions_do(dtype):
    """engine/runtime/fused.py: every pass compiled by cupy.fuse (none falling back to running
    unfused), and its numbers those of the same definition run as NumPy."""
    import cupy

    from .fused_cases import cases, run

    for case in cases(dtype):
        on_host = run(case)
        on_device = run(case, cupy.asarray, scratch_none=True)  # as the engine calls them on a GPU
        for gpu, cpu in zip(on_device, on_host):
            assert gpu.dtype == np.asarray(cpu).dtype, case.name  # NumPy's own forms may return a Python float
            np.testing.assert_allclose(cupy.asnumpy(gpu), cpu, rtol=1e-5 if dtype == "float32" else 1e-12,
                                       atol=1e-6 if dtype == "float32" else 1e-13, err_msg=case.name)  # fmt: skip
