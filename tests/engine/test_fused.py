"""The fused element-wise passes (engine/runtime/fused.py).

On the CPU each pass is the NumPy of its definition (or the NumPy form of its own that a few
passes give, for speed), checked here against its formula written out in float64
(fused_cases.py); on the CuPy stand-in each is one kernel launch, computing what NumPy
computes to the bit, and refusing (as cupy.fuse does) anything that is not element-wise.
Each component then costs the launches counted below. tests/engine/test_gpu.py runs the
compiled kernels on a real GPU."""

import numpy as np
import pytest

from engine.components import activations, attention, layernorm, linear, loss
from engine.runtime import fused

from .fake_cupy import COUNTS
from .fused_cases import as_float64, cases, run

TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-10), "float32": dict(rtol=2e-5, atol=1e-6)}


def labels(dtype="float64"):
    seen: dict[str, int] = {}
    out = []
    for case in cases(dtype):
        seen[case.name] = seen.get(case.name, 0) + 1
        out.append(case.name if seen[case.name] == 1 else f"{case.name}-{seen[case.name]}")
    return out


CASES = list(zip(labels(), range(len(cases("float64")))))


def test_every_fused_pass_has_a_case():
    assert sorted(fused.ALL) == sorted({case.name for case in cases("float64")})


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("label, i", CASES)
def test_each_pass_computes_its_formula(label, i, dtype):
    case = cases(dtype)[i]
    results = run(case)
    expected = case.expected(*(as_float64(a) for a in case.args))
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        if np.asarray(want).dtype.kind == "f":
            kept = "float64" if case.float64_result else dtype
            assert np.asarray(got).dtype == np.dtype(kept), f"{label}: {dtype} widened or narrowed"
        np.testing.assert_allclose(np.asarray(got, np.float64), want, **TOLERANCE[dtype], err_msg=label)


@pytest.mark.parametrize("label, i", [c for c in CASES if cases("float32")[c[1]].scratch])
def test_a_scratch_of_none_gives_the_same_numbers(label, i):
    """On a GPU the scratch arguments are None (the kernel keeps them in registers); on the CPU
    they are arrays of the workspace, or None, when NumPy allocates them."""
    case = cases("float32")[i]
    given = run(case)
    none = run(case, scratch_none=True)
    for a, b in zip(given, none):
        np.testing.assert_array_equal(a, b, err_msg=label)


@pytest.mark.parametrize("label, i", CASES)
def test_on_the_stand_in_each_pass_is_one_launch_with_numpys_numbers(fake_gpu, label, i):
    case = cases("float32")[i]
    on_host = run(case)
    COUNTS.clear()
    on_device = run(case, fake_gpu.asarray)
    assert COUNTS["launches"] == 1, label
    for device, host in zip(on_device, on_host):
        assert isinstance(device, fake_gpu.ndarray)
        np.testing.assert_array_equal(device.get(), host, err_msg=label)


def test_a_definition_is_built_once_for_each_array_module(fake_gpu):
    seen = []

    @fused.fused
    def twice(xp):
        seen.append(xp.__name__)

        def kernel(x, out):
            xp.multiply(x, 2.0, out=out)

        return kernel

    try:
        out = np.empty(3)
        twice[np](np.arange(3.0), out)
        assert seen == ["numpy"] and out.tolist() == [0.0, 2.0, 4.0]
        dout = fake_gpu.empty(3)
        twice[fake_gpu](fake_gpu.asarray(np.arange(3.0)), dout)
        twice[fake_gpu](fake_gpu.asarray(np.arange(3.0)), dout)
        assert seen == ["numpy", "cupy", "cupy"]  # compiled and unfused forms, made once
        assert dout.get().tolist() == [0.0, 2.0, 4.0]
    finally:
        del fused.ALL["twice"]


def test_a_pass_that_cannot_be_fused_still_computes_unfused_and_says_why(fake_gpu):
    @fused.fused
    def centred(xp):
        def kernel(x, out):
            xp.subtract(x, x.mean(), out=out)  # a reduction in the middle: cupy.fuse refuses it

        return kernel

    try:
        x = fake_gpu.asarray(np.arange(4.0))
        out = fake_gpu.empty(4)
        COUNTS.clear()
        centred[fake_gpu](x, out)
        assert out.get().tolist() == [-1.5, -0.5, 0.5, 1.5]
        assert "cannot compile add.reduce" in fused.FELL_BACK["centred"]
        COUNTS.clear()
        centred[fake_gpu](x, out)
        assert COUNTS["launches"] == 3  # unfused from then on: the mean (a sum, a division), the subtraction
        with pytest.raises(ValueError):
            centred[fake_gpu](x, fake_gpu.empty(3))  # an error of the arguments is not hidden
    finally:
        del fused.ALL["centred"]
        fused.FELL_BACK.clear()


def launches(call) -> int:
    COUNTS.clear()
    call()
    return COUNTS["launches"]


def test_what_each_component_costs_in_launches(fake_gpu):
    """Each component's reductions and products are a launch each; the element-wise passes
    between them, one launch each: the counts benchmarks/README.md gives."""
    rng = np.random.default_rng(0)
    B, T, C, F, V = 2, 3, 8, 16, 5

    def device(*shape, dtype="float32"):
        return fake_gpu.asarray(rng.standard_normal(shape).astype(dtype))

    x, gamma, beta = device(B, T, C), device(C), device(C)
    y, ln = layernorm.forward(x, gamma, beta)
    assert launches(lambda: layernorm.forward(x, gamma, beta)) == 5  # row sum, centre, square sum, 1/std, scale
    dy = device(B, T, C)
    assert launches(lambda: layernorm.backward(dy, ln)) == 6  # 4 sums (dbeta, dgamma, and two a row), dy * gamma, dx
    h = device(B, T, F)
    for forward, backward in zip(activations.FORWARD.values(), activations.BACKWARD.values()):
        a, cache = forward(h)
        assert launches(lambda f=forward: f(h)) == 1, forward.__name__
        assert launches(lambda b=backward, c=cache: b(h, c)) == 1, backward.__name__
    scores = device(B, 2, T, T)
    assert launches(lambda: attention.softmax(scores)) == 4  # max, exp(s - max), sum, divide
    probs = attention.softmax(device(B, 2, T, T))
    dprobs = device(B, 2, T, T)
    assert launches(lambda: attention.softmax_backward(dprobs, probs)) == 2  # the row dot, then the pass
    w, b, mask = device(C, C), device(C), device(B, T, C)
    assert launches(lambda: linear.forward(x, w, b, None, mask, x)) == 2  # x @ w, then (+ b) * mask + x
    targets = fake_gpu.asarray(rng.integers(-1, V, (B, T)))
    logits = device(B, T, V)
    value, c_loss = loss.mean_loss(logits, targets)
    # split targets, count, row max, shift and exp, sum, gather (and its index), nll, sum, mean, normalise
    assert launches(lambda: loss.mean_loss(logits, targets)) == 11
    assert launches(lambda: loss.backward(1.0, c_loss)) == 3  # the weights, the column numbers, the gradient


def test_a_training_step_is_the_launches_benchmarks_readme_gives(fake_gpu):
    """The reverse task's model (L2 H2 C32 T8, batch 32, Adam): 172 launches a step, as
    `python benchmarks/count_launches.py` prints and benchmarks/README.md says (252 before the
    components' passes were fused)."""
    from engine import ModelConfig, TrainConfig
    from engine.training.trainer import Trainer

    trainer = Trainer(ModelConfig(seq_len=8, n_heads=2, n_layers=2),
                      TrainConfig(task="reverse", optimizer="adam", batch_size=32, device="gpu"))  # fmt: skip
    trainer.step()
    trainer.step(report=False)  # from here on the refusal flag is carried: one launch to combine it
    assert launches(lambda: trainer.step(report=False)) == 172
