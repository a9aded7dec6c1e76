"""Finite differences for the gradient check (engine/gradcheck.py): a central difference at
one entry whose step may not cross a ReLU kink, Richardson's extrapolation of two of them,
and samples of the rounding error of f itself. docs/backprop.md ("Checking it") derives them.

f() returns the scalar, or (scalar, ReLU pattern) when it can say which units are on: a
step that switches a unit differences two linear pieces, and is retried smaller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

NOISE_SAMPLES = 8  # entries per tensor on which f's rounding error is measured
KINK_SHRINK = 16.0  # a step that crosses a ReLU kink is retried this many times smaller
KINK_TRIES = 3  # steps tried before an entry is left out as at a kink: h, h/16, h/256
J_WEIGHT = 2 + 4 * (15 / 16) ** 2 + 2 / 16**2  # 5.52: the variance of J (rounding_samples) / sigma^2

Evaluation = float | tuple[float, np.ndarray | None]


class Difference(NamedTuple):
    """A central difference at one entry, and the evaluations it came from."""

    numeric: float  # (f(x + h e_i) - f(x - h e_i)) / 2h
    step: float  # h, as rounding left it: half the distance between the two points
    plus: float  # f(x + h e_i)
    minus: float  # f(x - h e_i)


def split(value: Evaluation) -> tuple[float, np.ndarray | None]:
    """f()'s return as (scalar, ReLU pattern or None)."""
    if isinstance(value, tuple):
        return float(value[0]), value[1]
    return float(value), None


def same_side(pattern, base) -> bool:
    """True when no ReLU unit switched on or off between the two points."""
    return pattern is None or base is None or np.array_equal(pattern, base)


def sample_indices(size: int, max_entries: int | None, rng: np.random.Generator, analytic=None) -> np.ndarray:
    """All flat indices, or a sorted random sample of max_entries of them: half (at most) among
    the entries whose claimed gradient is not zero, so a sparse gradient (the embedding's rows
    of the batch's tokens) is checked where it lives, and the rest among all entries."""
    if max_entries is None or size <= max_entries:
        return np.arange(size)
    nonzero = np.flatnonzero(np.asarray(analytic).reshape(-1)) if analytic is not None else np.arange(0)
    first = rng.choice(nonzero, size=min(len(nonzero), max_entries // 2), replace=False)
    rest = np.setdiff1d(np.arange(size), first)
    return np.sort(np.concatenate([first, rng.choice(rest, size=max_entries - len(first), replace=False)]))


def moved(f: Callable[[], Evaluation], flat: np.ndarray, i: int, step: float):
    """f with entry i of flat moved by step and put back: (value, pattern, the step taken)."""
    original = flat[i]
    flat[i] = original + step
    taken = float(flat[i] - original)  # exact: the step as float64 could represent it
    try:
        value, pattern = split(f())
    finally:
        flat[i] = original
    return value, pattern, taken


def central_difference(f, flat: np.ndarray, i: int, step: float, base, tries: int = KINK_TRIES) -> Difference | None:
    """The central difference at entry i, the step shrunk while it crosses a ReLU kink;
    None when every step tried crosses one."""
    for _ in range(tries):
        plus, p_plus, h_plus = moved(f, flat, i, step)
        minus, p_minus, h_minus = moved(f, flat, i, -step)
        if same_side(p_plus, base) and same_side(p_minus, base):
            width = h_plus - h_minus  # 2h
            return Difference((plus - minus) / width, width / 2, plus, minus)
        step /= KINK_SHRINK
    return None


def richardson(f, flat: np.ndarray, i: int, d: Difference, base) -> tuple[float, float]:
    """(4 D(h/2) - D(h)) / 3: the h^2 error cancelled; and how much more its rounding
    weighs than D(h)'s (3: (4 * 2 + 1) / 3). D(h) and 1 when h/2 crosses a kink."""
    half = central_difference(f, flat, i, d.step / 2, base, tries=1)
    if half is None:  # h/2 crossed a kink that h did not: keep D(h)
        return d.numeric, 1.0
    return (4 * half.numeric - d.numeric) / 3, 3.0


def rounding_samples(f, flat: np.ndarray, idx, diffs, f0: float, base) -> list[float]:
    """Samples of f's rounding error, taken on up to NOISE_SAMPLES entries whose steps moved f:
    with d = h/4,  J = f(+d) + f(-d) - 2 f0 - (f(+h) + f(-h) - 2 f0) / 16  cancels f's Taylor
    terms below the fourth order (h^4 / 205 times the fourth derivative is left), so J is
    rounding: independent errors of size sigma give J^2 = J_WEIGHT sigma^2 on average.
    Returns the J^2."""
    moving = [j for j, d in enumerate(diffs) if d is not None and (d.plus != f0 or d.minus != f0)]
    squares = []
    for j in moving[:: max(1, len(moving) // NOISE_SAMPLES)][:NOISE_SAMPLES]:
        d = diffs[j]
        plus, p_plus, d_plus = moved(f, flat, idx[j], d.step / 4)
        minus, p_minus, d_minus = moved(f, flat, idx[j], -d.step / 4)
        if same_side(p_plus, base) and same_side(p_minus, base):
            r = ((d_plus - d_minus) / (2 * d.step)) ** 2  # (d / h)^2: 1/16 up to the steps' rounding
            squares.append((plus + minus - 2 * f0 - r * (d.plus + d.minus - 2 * f0)) ** 2)
    return squares
