"""The engine on a real NVIDIA GPU through CuPy, against the CPU. Skipped without CuPy or a
GPU (CI has neither); run them with benchmarks/gpu_check.sh where there is one."""

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig, TransformerEncoder
from engine.runtime.backend import DeviceError, get_backend, to_numpy
from engine.training.trainer import Trainer

from .gradients import max_norm_error
from .test_model import CONFIGS, batch

try:
    get_backend("gpu")
except DeviceError as err:
    pytest.skip(f"no GPU: {err}", allow_module_level=True)

pytestmark = pytest.mark.gpu


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
    """engine/runtime/fused.py: the same definition compiled by cupy.fuse and run as NumPy."""
    import cupy

    from engine.training.optim import adam_step, decoupled_decay, momentum_step

    rng = np.random.default_rng(0)
    host = [rng.standard_normal(10_000).astype(dtype) for _ in range(4)]
    host[1] = np.abs(host[1])
    passes = {
        "adam": (adam_step, host[:3], 3, (0.9, 0.1, 0.999, 0.001, 1e-3 / 0.1, 1 / 0.001, 1e-8)),
        "momentum": (momentum_step, [host[0], host[2]], 2, (0.9, 1e-2)),
        "decay": (decoupled_decay, [host[0].copy(), host[3], host[2]], 0, (1e-4,)),
    }
    for name, (kernel, inputs, n_out, constants) in passes.items():
        cpu_out = [np.empty_like(host[0]) for _ in range(n_out)]
        gpu_in = [cupy.asarray(a) for a in inputs]
        gpu_out = [cupy.empty(host[0].shape, dtype=host[0].dtype) for _ in range(n_out)]
        kernel(*inputs, *cpu_out, *constants)
        kernel(*gpu_in, *gpu_out, *constants)
        results = zip(gpu_out, cpu_out) if n_out else [(gpu_in[0], inputs[0])]
        for gpu, cpu in results:
            assert gpu.dtype == cpu.dtype, name
            np.testing.assert_allclose(cupy.asnumpy(gpu), cpu, rtol=1e-6 if dtype == "float32" else 1e-14, err_msg=name)
