"""Dropout on a real NVIDIA GPU through CuPy: the masks (drawn on the host, then moved) give the
GPU the CPU's numbers. Skipped without CuPy or a GPU, like tests/engine/test_gpu.py."""

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.components.dropout import Dropout
from engine.runtime.backend import DeviceError, get_backend, to_numpy

from .gradients import batch, max_norm_error

try:
    get_backend("gpu")
except DeviceError as err:
    pytest.skip(f"no GPU: {err}", allow_module_level=True)

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("norm_first", [False, True])
def test_gpu_loss_and_gradients_with_dropout_equal_the_cpu(norm_first):
    cfg = ModelConfig(dtype="float64", n_heads=2, n_layers=2, causal=True, seq_len=8, norm_first=norm_first)
    tokens, targets = batch(cfg, B=4)
    runs = {}
    for device in ("cpu", "gpu"):
        model = TransformerEncoder(cfg, seed=4, device=device)
        runs[device] = model.loss_and_grads(tokens, targets, Dropout(0.3, np.random.default_rng(1)))
    (cpu_loss, cpu_grads), (gpu_loss, gpu_grads) = runs["cpu"], runs["gpu"]
    assert gpu_loss == pytest.approx(cpu_loss, rel=1e-10)
    errors = max_norm_error({k: to_numpy(g) for k, g in gpu_grads.items()}, cpu_grads)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1e-10, f"{worst}: {errors[worst]:.1e}"
