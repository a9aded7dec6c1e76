"""Gradient check: analytic gradients against central finite differences, in float64.

For each checked entry i of a tensor (e_i the unit step there):

    h_i       = 1e-5 * max(1, |x_i|)
    numeric_i = (f(x + h_i e_i) - f(x - h_i e_i)) / 2h_i
    noise_i   = 8 sigma / h_i                                what f's rounding can do to numeric_i
    error     = max_i |analytic_i - numeric_i| / max(scale, noise_i / tolerance)
    scale     = max_i max(|analytic_i|, |numeric_i|)         the tensor's own size

A tensor passes at error <= 1e-6: each entry agrees to a millionth of the tensor's largest
gradient, or to within the finite differences' noise where that is larger. sigma, the
rounding error of one computed f, is measured (on 8 entries a tensor, from f at x +- h/4),
not read off |f|: a tiny loss is computed from logits near 10. A tensor whose analytic and
numeric gradients are both under the noise is reported as zero (the key bias). A step that
switches a ReLU unit (crosses a kink) is retried at h/16 and h/256, then left out and
counted; an entry that disagrees is confirmed by Richardson extrapolation before it fails.
docs/backprop.md ("Checking it") derives all this. `check_model` is what the tests and the
lab's `g` key call; `check` is the same comparison for any function. With dropout (a run's
TrainConfig.dropout), check_model checks the training-time gradient: one fixed set of masks,
drawn once, is used in every evaluation, so f stays one smooth function of the parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .components import loss as cross_entropy
from .components.dropout import Dropout, Fixed
from .config import ModelConfig
from .finite_differences import (
    J_WEIGHT,
    Evaluation,
    central_difference,
    richardson,
    rounding_samples,
    sample_indices,
    split,
)
from .model import TransformerEncoder

STEP = 1e-5  # h: the finite-difference step, relative to max(1, |x_i|) (float64)
TOLERANCE = 1e-6  # a tensor passes when its max relative error is at most this
NOISE_SIGMAS = 8.0  # noise_i: this many times f's measured rounding error, over the step
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2  # 1.1e-16: the smallest rounding of any f
COLUMNS = ("tensor", "max rel err", "analytic", "numeric", "entries", "")  # of a row of the report

# f() returns the scalar, or (scalar, pattern): the on/off state of every ReLU unit


@dataclass(frozen=True)
class TensorCheck:
    """The comparison for one tensor."""

    name: str
    max_rel_error: float  # worst entry: |analytic - numeric| / max(scale, noise / tolerance)
    analytic_norm: float  # L2 norm of the analytic gradient over the checked entries
    numeric_norm: float  # the same for the finite differences
    checked: int  # entries compared
    size: int  # entries in the tensor
    tolerance: float = TOLERANCE
    at_kinks: int = 0  # entries left out: every step tried crossed a ReLU kink
    zero: bool = False  # analytic and numeric gradients are both under the noise: zero up to rounding
    noise: float = 0.0  # the largest noise_i: what the finite differences cannot resolve

    @property
    def passed(self) -> bool:
        """True when the worst entry is within the tolerance (entries at kinks not counted)."""
        return bool(self.max_rel_error <= self.tolerance)

    @property
    def verdict(self) -> str:
        """pass, FAIL, or zero (both gradients under the noise: no error figure to show)."""
        return "FAIL" if not self.passed else "zero" if self.zero else "pass"

    def cells(self) -> tuple[str, ...]:
        """The row every rendering shows (COLUMNS): the lab's and --gradcheck's table, and table()."""
        error = "below noise" if self.verdict == "zero" else f"{self.max_rel_error:.1e}"
        norms = f"{self.analytic_norm:.3e}", f"{self.numeric_norm:.3e}"
        return (self.name, error, *norms, f"{self.checked}/{self.size}", self.verdict)


@dataclass(frozen=True)
class GradcheckReport:
    """Every tensor's comparison, in model order, and how long the check took."""

    tensors: list[TensorCheck]
    seconds: float = 0.0
    config: dict = field(default_factory=dict)
    dropout: float = 0.0  # p of the fixed dropout masks the check ran with; 0: none

    @property
    def conditions(self) -> str:
        """What the check ran with beyond the model: 'with dropout 0.1: one fixed mask', or ''."""
        return f"with dropout {self.dropout:g}: one fixed mask" if self.dropout else ""

    @property
    def passed(self) -> bool:
        """True when every tensor passes."""
        return all(t.passed for t in self.tensors)

    @property
    def failed(self) -> int:
        """How many tensors fail."""
        return sum(not t.passed for t in self.tensors)

    @property
    def max_rel_error(self) -> float:
        """The worst error of a tensor that is not zero (a zero tensor's figure is rounding)."""
        return max((t.max_rel_error for t in self.tensors if t.verdict != "zero"), default=0.0)

    @property
    def at_kinks(self) -> int:
        """Entries left out over all tensors because every step tried crossed a ReLU kink."""
        return sum(t.at_kinks for t in self.tensors)

    def table(self) -> str:
        """Plain text, a row per tensor (what a failing test prints): COLUMNS, the noise, kinks."""
        rows = ["{:28} {:>11} {:>10} {:>10} {:>9}  {:5}".format(*COLUMNS) + f"{'noise':>8}"]
        for t in self.tensors:
            kinks = f"  {t.at_kinks} at kinks" if t.at_kinks else ""
            rows.append("{:28} {:>11} {:>10} {:>10} {:>9}  {:5}".format(*t.cells()) + f"{t.noise:8.1e}{kinks}")
        return "\n".join(rows)


class Measured(NamedTuple):
    """One tensor's finite differences, before they are compared."""

    name: str
    f: Callable[[], Evaluation]
    flat: np.ndarray  # the tensor, flattened (a view)
    analytic: np.ndarray  # (len(idx),) the claimed gradient at the checked entries
    analytic_max: float  # the largest claimed gradient of the whole tensor, checked or not
    idx: np.ndarray  # the checked flat indices
    diffs: list  # Difference per checked entry, None where every step crossed a kink
    f0: float  # f at the unmoved point
    base: np.ndarray | None  # the ReLU pattern at the unmoved point
    squares: list[float]  # samples J^2 of f's rounding error


def measure(name: str, f, x: np.ndarray, analytic: np.ndarray, idx) -> Measured:
    """Central differences at the entries idx of x, and samples of f's rounding error."""
    flat = x.reshape(-1)  # a view: writing it moves x
    f0, base = split(f())
    diffs = [central_difference(f, flat, i, STEP * max(1.0, abs(flat[i])), base) for i in idx]
    squares = rounding_samples(f, flat, idx, diffs, f0, base)
    whole = np.abs(np.asarray(analytic, dtype=np.float64).reshape(-1))
    a = np.asarray(analytic, dtype=np.float64).reshape(-1)[idx]
    return Measured(name, f, flat, a, float(whole.max(initial=0)), idx, diffs, f0, base, squares)


def sigma_of(squares: list[float]) -> float:
    """The rounding error of one computed f estimated from samples J^2 (0 with none)."""
    return float(np.sqrt(np.mean(squares) / J_WEIGHT)) if squares else 0.0


def compare(t: Measured, sigma: float, tolerance: float) -> TensorCheck:
    """One tensor's verdict: numeric against analytic, disagreements confirmed by Richardson."""
    keep = [j for j, d in enumerate(t.diffs) if d is not None]
    a = t.analytic[keep]  # (checked,)
    n = np.array([t.diffs[j].numeric for j in keep])  # (checked,)
    noise = np.array([NOISE_SIGMAS * sigma / t.diffs[j].step for j in keep])  # (checked,)
    scale = max(np.abs(a).max(initial=0), np.abs(n).max(initial=0))
    for k in np.flatnonzero(np.abs(a - n) > np.maximum(tolerance * scale, noise)):
        j = keep[k]
        n[k], weight = richardson(t.f, t.flat, t.idx[j], t.diffs[j], t.base)
        noise[k] *= weight
    scale = max(np.abs(a).max(initial=0), np.abs(n).max(initial=0), np.finfo(np.float64).tiny)
    errors = np.abs(a - n) / np.maximum(scale, noise / tolerance)  # (checked,)
    return TensorCheck(
        name=t.name,
        max_rel_error=float(errors.max(initial=0)),
        analytic_norm=float(np.linalg.norm(a)),
        numeric_norm=float(np.linalg.norm(n)),
        checked=len(keep),
        size=t.flat.size,
        tolerance=tolerance,
        at_kinks=len(t.idx) - len(keep),
        zero=bool(keep) and bool(np.all(np.maximum(np.abs(a), np.abs(n)) <= noise)) and t.analytic_max <= noise.min(),
        noise=float(noise.max(initial=0)),
    )


def check(
    tensors: dict[str, tuple[Callable[[], Evaluation], np.ndarray, np.ndarray]],
    max_entries: int | None = None, seed: int = 0, tolerance: float = TOLERANCE,
) -> list[TensorCheck]:  # fmt: skip
    """Compare analytic gradients with finite differences.

    tensors maps a name to (f, x, analytic): f() computes the scalar from x, a float64
    array (moved in place and put back), and analytic is the claimed df/dx, shaped like x.
    f() may also return (scalar, pattern), pattern the on/off state of every ReLU unit,
    so that steps across a kink are seen. The tensors are taken to be inputs of one scalar
    (f may differ in how it reaches them): its rounding error is measured on all of them
    together, and on each alone where that is larger."""
    rng = np.random.default_rng(seed)
    measured = []
    for name, (f, x, analytic) in tensors.items():
        if x.dtype != np.float64:
            raise TypeError(f"{name}: gradient checks run in float64, got {x.dtype}")
        measured.append(measure(name, f, x, analytic, sample_indices(x.size, max_entries, rng, analytic)))
    pooled = sigma_of([s for t in measured for s in t.squares])
    return [compare(t, max(pooled, sigma_of(t.squares), UNIT_ROUNDOFF * abs(t.f0)), tolerance) for t in measured]


def relu_pattern(cache) -> np.ndarray | None:
    """Which ReLU units are on, over every block (where the outputs the forward pass cached
    are positive); None for GELU, which has no kink."""
    outputs = [c.ffn.act for c in cache.blocks if c.ffn.activation == "relu"]
    return np.concatenate([(a > 0).reshape(-1) for a in outputs]) if outputs else None


def check_model(
    model: TransformerEncoder, tokens, targets, max_entries: int | None = 64,
    seed: int = 0, tolerance: float = TOLERANCE, dropout: float = 0.0,
) -> GradcheckReport:  # fmt: skip
    """Check every parameter tensor of `model` and the input embeddings on one batch.

    Runs on a float64 CPU copy of the model, so a float32 or GPU model is checked in the
    precision finite differences need; the model itself is not changed. max_entries=None
    checks every entry of every tensor. dropout > 0: the training-time gradient, with one
    set of dropout masks (drawn from `seed`) fixed for every evaluation."""
    start = time.perf_counter()
    cfg = ModelConfig(**{**model.cfg.to_dict(), "dtype": "float64"})
    m = TransformerEncoder(cfg, params=model.params_numpy())
    masks = Fixed(Dropout(dropout, np.random.default_rng(seed))) if dropout else None  # the same in every pass
    checks = check(model_tensors(m, tokens, targets, masks), max_entries, seed, tolerance)
    return GradcheckReport(checks, time.perf_counter() - start, cfg.to_dict(), float(dropout))


def model_tensors(m: TransformerEncoder, tokens, targets, masks=None) -> dict:
    """What `check` compares for a float64 model on one batch: every parameter tensor and the
    input embeddings, each (loss function, tensor, analytic gradient). masks: a dropout mask
    source that gives the same masks in every pass (components/dropout.py Fixed), or None."""
    tokens, targets = np.asarray(tokens), np.asarray(targets)
    x0 = m.params["embed"][tokens] + m.pe[: tokens.shape[1]]  # (B, T, C) input embeddings

    def loss_and_pattern(x=None) -> tuple[float, np.ndarray | None]:
        logits, cache = m.forward(tokens, x0=x, dropout=masks)
        return cross_entropy.forward(logits, targets)[0], relu_pattern(cache)

    logits, cache = m.forward(tokens, dropout=masks)
    _, c_loss = cross_entropy.forward(logits, targets)
    grads, dx0 = m.backward(cross_entropy.backward(1.0, c_loss), cache)
    tensors = {name: (loss_and_pattern, m.params[name], grads[name]) for name in m.params}
    tensors["input"] = (lambda: loss_and_pattern(x0), x0, dx0)
    return tensors
