"""One case for every fused pass (engine/runtime/fused.py): its arguments, the arrays it writes,
and what they should hold, written out from the formula in float64 independently of the pass.

test_fused.py runs each as NumPy against the formula and on the CuPy stand-in; test_gpu.py
runs each as a compiled kernel on a real GPU against NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

EPS = 1e-5  # LayerNorm's
GELU_C, GELU_A = math.sqrt(2.0 / math.pi), 0.044715


@dataclass
class Case:
    name: str  # the pass, as in fused.ALL
    args: list  # arrays (float ones in the case's dtype), Python numbers, None
    writes: list[int]  # positions of the arrays the pass writes
    expected: Callable  # the args, as float64 copies -> what each written array should hold (and the result, if any)
    returns: bool = False  # whether the pass returns an array, compared after the written ones
    scratch: list[int] = field(default_factory=list)  # positions of scratch arguments (may be None)
    float64_result: bool = False  # whether its result is float64 whatever the dtype (a mean over an int count)


def gelu(h):
    return 0.5 * h * (1 + np.tanh(GELU_C * (h + GELU_A * h**3)))


def cases(dtype: str, seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def empty(*shape, kind=None):
        return np.zeros(shape, kind or dtype)  # written by the pass

    B, T, C, N, V, P = 3, 4, 8, 12, 7, 50
    x = normal(B, T, C)
    xc = x - x.mean(-1, keepdims=True)
    targets = rng.integers(-1, V, N)
    targets[:2] = [-1, 3]
    counted = targets != -1
    probs = rng.random((N, V)).astype(dtype)
    probs /= probs.sum(-1, keepdims=True)
    h = normal(B, T, 2 * C)
    out = [
        Case("centre", [x, x.sum(-1, keepdims=True), 1 / C, empty(B, T, C)], [3],
             lambda x, s, inv_c, xhat: [x - x.mean(-1, keepdims=True)]),
        Case("centre", [x, x.sum(-1, keepdims=True), 1 / C, None], [],
             lambda x, s, inv_c, xhat: [x - x.mean(-1, keepdims=True)], returns=True),  # a new array for None
        Case("inverse_std", [(xc * xc).sum(-1, keepdims=True), 1 / C], [],
             lambda ss, inv_c: [1 / np.sqrt(ss / C + EPS)], returns=True),
        Case("scale_shift", [xc.copy(), normal(B, T, 1) ** 2 + 0.5, normal(C), normal(C), empty(B, T, C)], [0, 4],
             lambda xhat, r, g, b, y: [xhat * r, xhat * r * g + b]),
        Case("scale_shift", [xc.copy(), normal(B, T, 1) ** 2 + 0.5, normal(C), normal(C), None], [0],
             lambda xhat, r, g, b, y: [xhat * r, xhat * r * g + b], returns=True),
        Case("input_gradient", [normal(B, T, C), xc, normal(B, T, 1), normal(B, T, 1), normal(B, T, 1) ** 2, 1 / C,
                                empty(B, T, C)], [0],
             lambda g, xhat, gs, gxs, r, inv_c, s: [r * (g - gs / C - xhat * gxs / C)], scratch=[6]),
        Case("relu_gradient", [normal(B, T, 2 * C), np.maximum(h, 0), empty(B, T, 2 * C)], [2],
             lambda da, a, dh: [da * (a > 0)]),
        Case("gelu_pass", [h, empty(B, T, 2 * C), empty(B, T, 2 * C), empty(B, T, 2 * C)], [1, 2],
             lambda h, t, a, s: [np.tanh(GELU_C * (h + GELU_A * h**3)), gelu(h)], scratch=[3]),
        Case("gelu_gradient", [normal(B, T, 2 * C), h, np.tanh(GELU_C * (h + GELU_A * h**3)).astype(dtype),
                               *(empty(B, T, 2 * C) for _ in range(4))], [3],
             lambda da, h, t, dh, *s: [da * (gelu(h + 1e-5) - gelu(h - 1e-5)) / 2e-5],  # central differences
             scratch=[4, 5, 6]),
        Case("exp_shifted", [normal(B, 2, T, T), normal(B, 2, T, 1)], [0], lambda s, m: [np.exp(s - m)]),
        Case("softmax_gradient", [normal(B, 2, T, T), normal(B, 2, T, 1), normal(B, 2, T, T)], [0],
             lambda d, r, p: [p * (d - r)]),
        Case("bias_mask_residual", [normal(B, T, C), normal(C), (rng.random((B, T, C)) > 0.3).astype(dtype) * 1.25,
                                    normal(B, T, C)], [0],
             lambda y, b, m, r: [(y + b) * m + r]),
        Case("bias_mask_residual", [normal(B, T, C), normal(C), None, normal(B, T, C)], [0],
             lambda y, b, m, r: [y + b + r]),
        Case("split_targets", [targets], [], lambda t: [t != -1, np.where(t != -1, t, 0)], returns=True),
        Case("shift_and_exp", [normal(N, V), normal(N, 1), empty(N, V), empty(N, V)], [2, 3],
             lambda z, m, s, e: [z - m, np.exp(z - m)]),
        Case("shift_and_exp", [normal(N, V), normal(N, 1), None, None], [], lambda z, m, s, e: [z - m, np.exp(z - m)],
             returns=True),  # no arrays to write into: new ones, returned
        Case("target_nll", [-rng.random(N).astype(dtype), 1 + rng.random(N).astype(dtype), counted], [],
             lambda st, se, c: [np.where(c, np.log(se) - st, 0.0)], returns=True),
        Case("mean_of_counted", [np.asarray(normal(1)[0]), np.asarray(counted.sum())], [],
             lambda total, n: [total / n], returns=True, float64_result=True),
        Case("mean_of_counted", [np.asarray(normal(1)[0]), np.asarray(0)], [],
             lambda total, n: [total], returns=True, float64_result=True),  # no position counts: no division by 0
        Case("position_weight", [counted[:, None], 1.0, np.asarray(counted.sum()), empty(N, 1)], [3],
             lambda c, d, n, w: [np.where(c, 1.0 / n, 0.0)]),
        Case("position_weight", [counted[:, None], np.float64(counted.sum()), np.asarray(counted.sum()), empty(N, 1)],
             [3], lambda c, d, n, w: [np.where(c, 1.0, 0.0)]),  # dloss n, as engine/bugs.py passes: no mean
        Case("softmax_nll_gradient", [probs, np.arange(V), np.where(counted, targets, 0)[:, None], normal(N, 1),
                                      empty(N, V)], [4],
             lambda p, cols, t, w, dz: [(p - (cols == t)) * w]),
        Case("momentum_step", [normal(P), normal(P), empty(P), empty(P), 0.9, 0.1], [2, 3],
             lambda v0, g, v, u, mu, lr: [mu * v0 + g, lr * (mu * v0 + g)]),
        Case("adam_step", [normal(P), normal(P) ** 2, normal(P), empty(P), empty(P), empty(P),
                           0.8, 0.2, 0.99, 0.01, 3e-3 / (1 - 0.8**4), 1 / (1 - 0.99**4), 1e-8, empty(P)], [3, 4, 5],
             lambda m0, s0, g, m, s, u, b1, c1, b2, c2, lr_m, s_sc, eps, _: adam(m0, s0, g, b1, b2, lr_m, s_sc, eps),
             scratch=[13]),
        Case("decoupled_decay", [normal(P), (np.arange(P) % 2).astype(dtype), normal(P), 0.01, empty(P)], [0],
             lambda u, mask, p, lr_wd, _: [u + lr_wd * mask * p], scratch=[4]),
        Case("keep_if", [normal(P), normal(P), np.asarray(True)], [0], lambda new, old, keep: [new]),
        Case("keep_if", [np.full(P, np.nan, dtype), normal(P), np.asarray(False)], [0],
             lambda new, old, keep: [old]),  # a refused step's state, not finite, is put back
        Case("step_if", [normal(P), normal(P), np.asarray(True)], [0], lambda p, u, ok: [p - u]),
        Case("step_if", [normal(P), np.full(P, np.inf, dtype), np.asarray(False)], [0], lambda p, u, ok: [p]),
    ]  # fmt: skip
    return out


def adam(m0, s0, g, b1, b2, lr_m, s_scale, eps):
    m = b1 * m0 + (1 - b1) * g
    s = b2 * s0 + (1 - b2) * g**2
    return [m, s, lr_m * m / (np.sqrt(s * s_scale) + eps)]


def as_float64(a):
    """A float64 copy of a float array (other arrays and numbers as they are)."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.astype(np.float64)
    return a.copy() if isinstance(a, np.ndarray) else a


def run(case: Case, convert=lambda a: a, scratch_none: bool = False) -> list:
    """Run the pass on the case's arguments, each array put through convert (to a device, say):
    -> what it wrote and returned, in the order of case.expected."""
    from engine.runtime import backend, fused

    args = [None if scratch_none and i in case.scratch else convert(a.copy()) if isinstance(a, np.ndarray) else a
            for i, a in enumerate(case.args)]  # fmt: skip
    first = next(a for a in args if a is not None and not isinstance(a, (int, float)))
    result = fused.ALL[case.name][backend.array_module(first)](*args)
    returned = list(result) if isinstance(result, tuple) else [result]
    return [args[i] for i in case.writes] + (returned if case.returns else [])
