"""A training step's figures, left on the device until a report needs them.

On a GPU, every number brought to the host waits for every kernel queued before it, so a
step that fetched its loss, its accuracy counts and its per-tensor sums one by one would
stall the GPU several times a step. Instead each step leaves one small vector where it
was computed (k tensors, float64):

    [loss, right, counted, grad_sq (k), update_sq (k), weight_sq (k)]

and the trainer fetches the vectors of every step since the last fetch in one transfer,
when a report is due (Pending.fetch). On the CPU the vectors are NumPy arrays already and
fetching costs nothing. EpochTotals sums the fetched figures over an epoch.

A step whose loss, gradient or update is not finite must change nothing. On the host the
trainer refuses it at once; on a device it applies the step under a flag (ok) computed on
the device, so a refused step and every step after it until the fetch change no parameter
and no optimizer state, and the fetch finds the first refused step (Row.problem) and says
which figure was not finite, as the host would have said at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..runtime.backend import to_numpy

HEAD = 3  # loss, right, counted: the vector's first entries, before the per-tensor sums


def step_vector(xp, loss, right, counted, grad_sq, update_sq):
    """The figures known before the update is applied, as one float64 vector (3 + 2k,) on
    the device: loss, right, counted (0-d each), grad_sq and update_sq (k,)."""
    f64 = xp.float64  # astype(copy=False): no copy of what is float64 already (CuPy's sums are)
    head = xp.stack([xp.asarray(loss, dtype=f64), right, counted]).astype(f64, copy=False)  # (3,)
    return xp.concatenate([head, grad_sq.astype(f64, copy=False), update_sq.astype(f64, copy=False)])


@dataclass(frozen=True)
class Row:
    """One step's figures on the host (float64)."""

    step: int  # 1-based: the step these figures belong to
    lr: float  # the learning rate it used
    lr_scale: float  # the factor on the schedule's rate that it used
    loss: float
    right: int
    counted: int
    grad_sq: np.ndarray  # (k,) squared norm of each tensor's gradient, before clipping
    update_sq: np.ndarray  # (k,) squared norm of each tensor's update
    weight_sq: np.ndarray  # (k,) squared norm of each tensor after the update

    @property
    def grad_norm(self) -> float:
        """The global gradient norm, before clipping."""
        return float(global_norm(np, self.grad_sq))

    @property
    def grad_norms(self) -> np.ndarray:
        return np.sqrt(self.grad_sq)

    @property
    def update_ratios(self) -> np.ndarray:
        """(k,) |update| / |weight| of each tensor."""
        return np.sqrt(self.update_sq) / np.maximum(np.sqrt(self.weight_sq), 1e-30)

    def problem(self) -> str | None:
        """What was not finite in this step (problem()); None if all was."""
        return problem(self.loss, self.grad_sq, self.update_sq, self.lr)


def global_norm(xp, grad_sq):
    """The global gradient norm, from each tensor's squared norm grad_sq (k,) -> 0-d float64
    of xp (on the device: no transfer)."""
    return xp.sqrt(xp.asarray(grad_sq).astype(xp.float64, copy=False).sum())


def problem(loss: float, grad_sq, update_sq, lr: float) -> str | None:
    """What was not finite in a step, on the host: its loss, its gradient (grad_sq (k,), before
    clipping) or its update (update_sq (k,)), checked in that order; None if all was. The one
    verdict for both ways of refusing a step: the trainer on the CPU, the fetch on a GPU."""
    if not np.isfinite(loss):
        return f"the loss is {float(loss)}"
    grad_norm = float(global_norm(np, grad_sq))
    if not np.isfinite(grad_norm):
        return f"the gradient norm is {grad_norm}"
    if not np.isfinite(update_sq).all():
        return f"the update is not finite at lr {lr:g}"
    return None


class Pending:
    """The figures of the steps not fetched yet, on the device."""

    def __init__(self) -> None:
        self._steps: list[tuple[int, float, float]] = []  # (step, lr, lr_scale) of each
        self._vectors: list = []  # (3 + 3k,) float64 device vectors, one a step

    def add(self, step: int, lr: float, lr_scale: float, vector) -> None:
        self._steps.append((step, lr, lr_scale))
        self._vectors.append(vector)

    def clear(self) -> None:
        self._steps, self._vectors = [], []

    def fetch(self, xp) -> list[Row]:
        """Every pending step's Row, oldest first: one transfer for all of them."""
        if not self._steps:
            return []
        table = to_numpy(xp.stack(self._vectors))  # (steps, 3 + 3k) the one transfer
        k = (table.shape[1] - HEAD) // 3
        rows = []
        for (step, lr, scale), v in zip(self._steps, table):
            grad_sq, update_sq, weight_sq = v[HEAD : HEAD + k], v[HEAD + k : HEAD + 2 * k], v[HEAD + 2 * k :]
            rows.append(Row(step, lr, scale, float(v[0]), int(v[1]), int(v[2]), grad_sq, update_sq, weight_sq))
        self.clear()
        return rows


@dataclass
class EpochTotals:
    """Running sums over the current epoch's steps (saved in checkpoints to resume exactly)."""

    loss: float = 0.0  # sum of loss * counted positions
    right: int = 0  # positions predicted right
    counted: int = 0  # positions that count
    steps: int = 0
    grad_norms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (tensors,) summed over steps
    update_ratios: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:  # from a checkpoint the sums come as JSON lists
        self.grad_norms = np.asarray(self.grad_norms, dtype=np.float64)
        self.update_ratios = np.asarray(self.update_ratios, dtype=np.float64)

    def add(self, loss: float, right: int, counted: int, grad_norms: np.ndarray, ratios: np.ndarray) -> None:
        self.loss += loss * counted
        self.right += right
        self.counted += counted
        self.steps += 1
        if self.steps == 1:
            self.grad_norms, self.update_ratios = grad_norms.copy(), ratios.copy()
        else:
            self.grad_norms += grad_norms
            self.update_ratios += ratios

    def to_dict(self) -> dict:
        """Plain JSON-able data (saved in checkpoints)."""
        return {**dataclasses.asdict(self), "grad_norms": self.grad_norms.tolist(),
                "update_ratios": self.update_ratios.tolist()}  # fmt: skip
