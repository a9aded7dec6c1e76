"""The fused element-wise passes (engine/runtime/fused.py): on the CPU each is the NumPy of its
definition, checked here against the formula written out in float64; on the CuPy stand-in
each call is one kernel launch. tests/engine/test_gpu.py checks the compiled kernels on a GPU."""

import numpy as np
import pytest

from engine.runtime.fused import fused
from engine.training.optim import adam_step, decoupled_decay, momentum_step

from .fake_cupy import COUNTS


def arrays(n: int, k: int, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


def test_adam_step_is_the_formula():
    m_prev, s_prev, g = arrays(1000, 3, "float64")
    s_prev = np.abs(s_prev)
    m, s, u = np.empty(1000), np.empty(1000), np.empty(1000)
    b1, b2, lr, t, eps = 0.8, 0.99, 3e-3, 4, 1e-8
    adam_step(m_prev, s_prev, g, m, s, u, b1, 1 - b1, b2, 1 - b2, lr / (1 - b1**t), 1 / (1 - b2**t), eps)
    m_ref = b1 * m_prev + (1 - b1) * g
    s_ref = b2 * s_prev + (1 - b2) * g**2
    np.testing.assert_allclose(m, m_ref, rtol=1e-15)
    np.testing.assert_allclose(s, s_ref, rtol=1e-15)
    np.testing.assert_allclose(u, lr * (m_ref / (1 - b1**t)) / (np.sqrt(s_ref / (1 - b2**t)) + eps), rtol=1e-14)


def test_momentum_and_decay_are_the_formulas():
    v_prev, g, p = arrays(500, 3, "float64", seed=1)
    v, u = np.empty(500), np.empty(500)
    momentum_step(v_prev, g, v, u, 0.9, 0.1)
    np.testing.assert_allclose(v, 0.9 * v_prev + g, rtol=1e-15)
    np.testing.assert_allclose(u, 0.1 * (0.9 * v_prev + g), rtol=1e-15)
    mask = (np.arange(500) % 2).astype(np.float64)
    before = u.copy()
    decoupled_decay(u, mask, p, 0.01)
    np.testing.assert_allclose(u, before + 0.01 * mask * p, rtol=1e-15)


def test_float32_stays_float32():
    m_prev, s_prev, g = arrays(100, 3)
    m, s, u = (np.empty(100, np.float32) for _ in range(3))
    adam_step(m_prev, np.abs(s_prev), g, m, s, u, 0.9, 0.1, 0.999, 0.001, 1e-3, 1.0, 1e-8)
    assert m.dtype == s.dtype == u.dtype == np.float32 and np.isfinite(u).all()


def test_on_the_device_a_fused_pass_is_one_launch(fake_gpu):
    m_prev, s_prev, g = (fake_gpu.asarray(a) for a in arrays(100, 3))
    m, s, u = (fake_gpu.empty(100, dtype=np.float32) for _ in range(3))
    COUNTS.clear()
    adam_step(m_prev, s_prev * s_prev, g, m, s, u, 0.9, 0.1, 0.999, 0.001, 1e-3, 1.0, 1e-8)
    assert COUNTS["launches"] == 1 + 1  # the square of s_prev above, then the fused pass
    assert isinstance(u, fake_gpu.ndarray)
    expected = [np.empty(100, np.float32) for _ in range(3)]
    host = [a.get() for a in (m_prev, s_prev * s_prev, g)]
    adam_step(*host, *expected, 0.9, 0.1, 0.999, 0.001, 1e-3, 1.0, 1e-8)
    for device, cpu in zip((m, s, u), expected):
        np.testing.assert_array_equal(device.get(), cpu)


def test_a_definition_runs_on_numpy_unless_a_device_array_is_given(fake_gpu):
    seen = []

    @fused
    def twice(xp):
        seen.append(xp.__name__)

        def kernel(x, out):
            xp.multiply(x, 2.0, out=out)

        return kernel

    x = np.arange(3.0)
    out = np.empty(3)
    twice(x, out)
    assert seen == ["numpy"] and out.tolist() == [0.0, 2.0, 4.0]
    dx = fake_gpu.asarray(x)
    dout = fake_gpu.empty(3)
    twice(dx, dout)
    twice(dx, dout)
    assert seen == ["numpy", "cupy"]  # built once for the device, then reused
    assert dout.get().tolist() == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw"])
def test_an_optimizer_step_on_the_device_is_a_few_launches(fake_gpu, optimizer):
    from engine.runtime.layout import ParamLayout
    from engine.training.optim import make_optimizer

    layout = ParamLayout({"w": (10, 10), "b": (10,)})
    opt = make_optimizer(optimizer, layout=layout)
    p, g = (fake_gpu.asarray(a) for a in arrays(layout.size, 2))
    opt.updates(p, g, 1e-3)
    opt.commit()
    COUNTS.clear()
    opt.updates(p, g, 1e-3)
    assert COUNTS["launches"] == {"momentum": 1, "adam": 1, "adamw": 2}[optimizer]
