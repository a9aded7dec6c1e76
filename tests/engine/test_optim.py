"""Each optimizer against a step computed by hand, clipping, and the schedules."""

import math

import numpy as np
import pytest

from engine.runtime.layout import ParamLayout
from engine.training.optim import SGD, Adam, AdamW, Momentum, clip_gradients, learning_rate, make_optimizer


def params_and_grads():
    params = {"w": np.array([[1.0, -2.0]]), "b": np.array([0.5])}
    grads = {"w": np.array([[0.5, 0.1]]), "b": np.array([-0.2])}
    return params, grads


def layout_of(params: dict) -> ParamLayout:
    return ParamLayout({name: p.shape for name, p in params.items()})


def step(opt, params: dict, grads: dict, lr: float) -> dict:
    """One step on named tensors the trainer's way (updates, commit, p -= u) over their flat
    copies; p -= u in place on each tensor. Returns {name: u}."""
    layout = opt.layout
    u = opt.updates(layout.flatten(params), layout.flatten(grads), lr)
    opt.commit()
    updates = layout.views(u)
    for name, update in updates.items():
        params[name] -= update
    return updates


def test_sgd():
    params, grads = params_and_grads()
    step(SGD(layout_of(params)), params, grads, lr=0.1)
    np.testing.assert_allclose(params["w"], [[0.95, -2.01]], rtol=1e-15)
    np.testing.assert_allclose(params["b"], [0.52], rtol=1e-15)


def test_momentum_two_steps():
    params, grads = params_and_grads()
    opt = Momentum(momentum=0.9, layout=layout_of(params))
    step(opt, params, grads, lr=0.1)  # v = g
    np.testing.assert_allclose(params["w"], [[0.95, -2.01]], rtol=1e-15)
    step(opt, params, grads, lr=0.1)  # v = 0.9 g + g = 1.9 g
    np.testing.assert_allclose(params["w"], [[0.95 - 0.095, -2.01 - 0.019]], rtol=1e-14)


def test_adam_first_and_second_step():
    params, grads = params_and_grads()
    opt = Adam(beta1=0.9, beta2=0.999, eps=1e-8, layout=layout_of(params))
    step(opt, params, grads, lr=0.01)
    # step 1: m = 0.1 g, s = 0.001 g^2; bias-corrected mhat = g, shat = g^2: u = lr g / (|g| + eps)
    np.testing.assert_allclose(params["w"], [[1 - 0.01 * 0.5 / (0.5 + 1e-8), -2 - 0.01 * 0.1 / (0.1 + 1e-8)]])
    g2 = {"w": np.array([[-0.5, 0.3]]), "b": np.array([0.0])}
    before = params["w"].copy()
    step(opt, params, g2, lr=0.01)
    m = 0.9 * 0.1 * np.array([0.5, 0.1]) + 0.1 * np.array([-0.5, 0.3])
    s = 0.999 * 0.001 * np.array([0.25, 0.01]) + 0.001 * np.array([0.25, 0.09])
    u = 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(s / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(params["w"][0], before[0] - u, rtol=1e-13)


def test_adamw_decays_matrices_but_not_vectors():
    params, grads = params_and_grads()
    plain, _ = params_and_grads()
    step(AdamW(weight_decay=0.1, layout=layout_of(params)), params, grads, lr=0.01)
    step(Adam(layout=layout_of(plain)), plain, grads, lr=0.01)
    np.testing.assert_allclose(params["w"], plain["w"] - 0.01 * 0.1 * np.array([[1.0, -2.0]]), rtol=1e-14)
    np.testing.assert_array_equal(params["b"], plain["b"])


def test_updates_leave_parameters_alone_and_a_step_applies_what_they_computed():
    params, grads = params_and_grads()
    before = {k: v.copy() for k, v in params.items()}
    layout = layout_of(params)
    flat_p, flat_g = layout.flatten(params), layout.flatten(grads)
    u = Adam(layout=layout).updates(flat_p, flat_g, lr=0.1)
    np.testing.assert_array_equal(flat_p, [1.0, -2.0, 0.5])  # untouched
    applied = step(Adam(layout=layout), params, grads, lr=0.1)
    for k in params:
        np.testing.assert_allclose(params[k], before[k] - applied[k])
    np.testing.assert_allclose(layout.flatten(applied), u)


def test_commit_takes_the_step_that_updates_computed_once():
    layout = ParamLayout({"w": (3,)})
    p, g = np.array([1.0, -2.0, 0.5]), np.array([0.5, 0.5, -1.0])
    opt = Adam(layout=layout)
    with pytest.raises(RuntimeError, match="commit.. without updates"):
        opt.commit()
    opt.updates(p, g, lr=np.float64(0.1))
    assert opt.t == 0 and not np.any(opt.state_arrays()["m"])  # computed, not yet taken
    opt.commit()
    assert opt.t == 1
    np.testing.assert_allclose(opt.state_arrays()["m"], 0.1 * g)  # (1 - beta1) g
    with pytest.raises(RuntimeError):
        opt.commit()
    before = p.copy()
    u = opt.updates(p, g, lr=0.1)
    opt.commit()
    p -= u  # the whole step, as the trainer takes it
    assert opt.t == 2
    np.testing.assert_array_equal(p, before - u)


def test_float32_stays_float32_whatever_the_type_of_lr():
    p, g = np.ones(4, dtype=np.float32), np.ones(4, dtype=np.float32)
    for opt in (SGD(), Momentum(), Adam(), AdamW(layout=ParamLayout({"w": (2, 2)}))):
        assert opt.updates(p, g, lr=np.float64(0.1)).dtype == np.float32, type(opt).__name__


def test_adamw_decays_the_matrices_of_whatever_layout_it_has():
    w = {"w": np.ones((2, 2))}
    opt = AdamW(weight_decay=0.5, layout=layout_of(w))
    step(opt, w, {"w": np.zeros((2, 2))}, lr=0.1)  # a matrix: decayed
    b = {"b": np.ones(4)}
    opt.layout = layout_of(b)
    step(opt, b, {"b": np.zeros(4)}, lr=0.1)  # the same size, but a bias: not decayed
    np.testing.assert_array_equal(b["b"], np.ones(4))
    with pytest.raises(ValueError, match="AdamW needs the parameter layout"):
        AdamW().updates(np.ones(4), np.zeros(4), lr=0.1)


def test_layout_views_are_the_flat_array():
    layout = ParamLayout({"w": (2, 3), "b": (3,)})
    flat = np.arange(9.0)
    views = layout.views(flat)
    np.testing.assert_array_equal(views["w"], [[0, 1, 2], [3, 4, 5]])
    views["b"][0] = 100
    assert flat[6] == 100
    np.testing.assert_array_equal(layout.sums(flat), [15 + 0, 100 + 7 + 8])
    np.testing.assert_array_equal(layout.matrix_mask(np.float64), [1, 1, 1, 1, 1, 1, 0, 0, 0])


def test_float32_stays_float32():
    params = {"w": np.ones((2, 2), np.float32)}
    grads = {"w": np.full((2, 2), 0.5, np.float32)}
    for name in ("sgd", "momentum", "adam", "adamw"):
        updates = step(make_optimizer(name, layout=layout_of(params)), params, grads, lr=1e-3)
        assert updates["w"].dtype == np.float32 and params["w"].dtype == np.float32, name


def test_clip_scales_to_the_max_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    factor = clip_gradients(grads, 5.0, 1.0)
    assert factor == pytest.approx(1 / 5, rel=1e-6)
    assert math.hypot(grads["a"][0], grads["b"][0]) == pytest.approx(1.0, rel=1e-6)
    assert clip_gradients(grads, 1.0, 10.0) == 1.0  # below the limit: untouched
    assert clip_gradients(grads, 1e9, 0.0) == 1.0  # 0 turns clipping off


def test_schedules():
    assert learning_rate(0, 0.1, "constant", 0, 100) == 0.1
    assert learning_rate(99, 0.1, "constant", 0, 100) == 0.1
    assert [learning_rate(s, 1.0, "constant", 4, 100) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert learning_rate(10, 1.0, "cosine", 10, 110) == pytest.approx(1.0)  # end of warm-up
    assert learning_rate(60, 1.0, "cosine", 10, 110) == pytest.approx(0.5)  # half way: cos(pi/2)
    assert learning_rate(110, 1.0, "cosine", 10, 110) == pytest.approx(0.0, abs=1e-15)
    assert learning_rate(500, 1.0, "cosine", 10, 110) == pytest.approx(0.0, abs=1e-15)  # stays there


def test_unknown_names():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop")
    with pytest.raises(ValueError, match="schedule"):
        learning_rate(0, 1.0, "step", 0, 10)
