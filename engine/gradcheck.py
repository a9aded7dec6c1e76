"""Gradient check: analytic gradients against central finite differences, in float64.

    numeric_i = (f(x + h e_i) - f(x - h e_i)) / 2h          h = 1e-5, for each checked entry i
    error     = max_i |analytic_i - numeric_i| / scale       one number per tensor
    scale     = max(max_i |analytic_i|, max_i |numeric_i|, 1e-3 * the largest gradient of any tensor)

The error is the max-norm relative error of the tensor: every entry's difference is
measured against the tensor's largest gradient, so a wrong small entry is caught as surely
as a wrong large one, while the finite differences' own rounding noise (about 1e-16 |f| / h
per entry) is not mistaken for an error. The floor at a thousandth of the model's largest
gradient is for tensors whose exact gradient is zero: the key bias, for one, since softmax
ignores a constant added to a whole row of scores; their own scale is pure rounding noise.
Large tensors are checked on a seeded random sample of entries. `check_model` is what the
tests and the lab's `g` key call; `check` is the same comparison for any function.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import loss as cross_entropy
from .config import ModelConfig
from .model import TransformerEncoder

STEP = 1e-5  # h: the finite-difference step (float64)
TOLERANCE = 1e-6  # a tensor passes when its max relative error is at most this
FLOOR = 1e-3  # the smallest scale, as a fraction of the largest gradient of any tensor


@dataclass(frozen=True)
class TensorCheck:
    """The comparison for one tensor."""

    name: str
    max_rel_error: float  # worst entry
    analytic_norm: float  # L2 norm of the analytic gradient over the checked entries
    numeric_norm: float  # the same for the finite differences
    checked: int  # entries compared
    size: int  # entries in the tensor
    tolerance: float = TOLERANCE

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_error <= self.tolerance)


@dataclass(frozen=True)
class GradcheckReport:
    """Every tensor's comparison, in model order, and how long the check took."""

    tensors: list[TensorCheck]
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    @property
    def failed(self) -> int:
        """How many tensors fail."""
        return sum(not t.passed for t in self.tensors)

    @property
    def max_rel_error(self) -> float:
        return max(t.max_rel_error for t in self.tensors)

    def table(self) -> str:
        """A plain-text table, one row per tensor (what a failing test prints)."""
        rows = [f"{'tensor':28} {'max rel err':>11} {'analytic':>10} {'numeric':>10} {'checked':>9}  ok"]
        for t in self.tensors:
            rows.append(
                f"{t.name:28} {t.max_rel_error:11.2e} {t.analytic_norm:10.3e} "
                f"{t.numeric_norm:10.3e} {t.checked:>4}/{t.size:<4}  {'yes' if t.passed else 'NO'}"
            )
        return "\n".join(rows)


def sample_indices(size: int, max_entries: int | None, rng: np.random.Generator) -> np.ndarray:
    """All flat indices, or a sorted random sample of max_entries of them."""
    if max_entries is None or size <= max_entries:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_entries, replace=False))


def numeric_gradient(f: Callable[[], float], x: np.ndarray, flat_indices, h: float = STEP):
    """Central differences of f() w.r.t. the given entries of x, perturbed in place."""
    flat = x.reshape(-1)  # a view: writing it moves x
    out = np.empty(len(flat_indices))
    for j, i in enumerate(flat_indices):
        original = flat[i]
        flat[i] = original + h
        f_plus = f()
        flat[i] = original - h
        f_minus = f()
        flat[i] = original
        out[j] = (f_plus - f_minus) / (2 * h)
    return out


def check(
    tensors: dict[str, tuple[Callable[[], float], np.ndarray, np.ndarray]],
    max_entries: int | None = None, seed: int = 0, tolerance: float = TOLERANCE,
) -> list[TensorCheck]:  # fmt: skip
    """Compare analytic gradients with finite differences.

    tensors maps a name to (f, x, analytic): f() computes the scalar from x, a float64
    array (moved in place and put back), and analytic is the claimed df/dx, shaped like x."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for name, (f, x, analytic) in tensors.items():
        if x.dtype != np.float64:
            raise TypeError(f"{name}: gradient checks run in float64, got {x.dtype}")
        idx = sample_indices(x.size, max_entries, rng)
        a = np.asarray(analytic, dtype=np.float64).reshape(-1)[idx]
        pairs[name] = (a, numeric_gradient(f, x, idx), x.size)
    largest = max(max(np.abs(a).max(initial=0), np.abs(n).max(initial=0)) for a, n, _ in pairs.values())
    floor = max(FLOOR * largest, np.finfo(np.float64).tiny)
    checks = []
    for name, (a, n, size) in pairs.items():
        scale = max(np.abs(a).max(initial=0), np.abs(n).max(initial=0), floor)
        checks.append(
            TensorCheck(
                name=name,
                max_rel_error=float(np.abs(a - n).max(initial=0) / scale),
                analytic_norm=float(np.linalg.norm(a)),
                numeric_norm=float(np.linalg.norm(n)),
                checked=len(a),
                size=size,
                tolerance=tolerance,
            )
        )
    return checks


def check_model(
    model: TransformerEncoder, tokens, targets, max_entries: int | None = 64,
    seed: int = 0, tolerance: float = TOLERANCE,
) -> GradcheckReport:  # fmt: skip
    """Check every parameter tensor of `model` and the input embeddings on one batch.

    Runs on a float64 CPU copy of the model, so a float32 or GPU model is checked in the
    precision finite differences need; the model itself is not changed. max_entries=None
    checks every entry of every tensor."""
    start = time.perf_counter()
    cfg = ModelConfig(**{**model.cfg.to_dict(), "dtype": "float64"})
    m = TransformerEncoder(cfg, params=model.params_numpy())
    tokens, targets = np.asarray(tokens), np.asarray(targets)
    x0 = m.params["embed"][tokens] + m.pe[: tokens.shape[1]]  # (B, T, C) input embeddings

    def loss_of_params() -> float:
        return cross_entropy.forward(m.forward(tokens)[0], targets)[0]

    def loss_of_input() -> float:
        return cross_entropy.forward(m.forward(tokens, x0=x0)[0], targets)[0]

    logits, cache = m.forward(tokens)
    _, c_loss = cross_entropy.forward(logits, targets)
    grads, dx0 = m.backward(cross_entropy.backward(1.0, c_loss), cache)
    tensors = {name: (loss_of_params, m.params[name], grads[name]) for name in m.params}
    tensors["input"] = (loss_of_input, x0, dx0)
    checks = check(tensors, max_entries, seed, tolerance)
    return GradcheckReport(checks, time.perf_counter() - start, cfg.to_dict())
