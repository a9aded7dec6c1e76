"""The plain reports the trainer returns: what happened in one step, in one epoch, and what
the model makes of the probe sample. Floats, dicts and NumPy arrays only, so the engine
can be used and tested without any UI, and the lab can keep them as history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity
class Projection:
    """Vectors drawn in 2-D by PCA (engine/analysis/embedding_space.py)."""

    points: np.ndarray  # (N, 2) coordinates on the first two principal axes
    explained: tuple[float, float]  # the share of the variance along each axis


@dataclass(frozen=True, eq=False)  # arrays inside: compared by identity
class ProbeReport:
    """The model's view of one sequence (engine/analysis/probe.py makes it)."""

    tokens: np.ndarray  # (T,) input ids
    targets: np.ndarray  # (T,) right answers, -1 where unknown
    probs: np.ndarray  # (T, V) predicted distribution at each position
    attention: np.ndarray  # (L, H, T, T) attention weights of every layer and head
    scores: np.ndarray  # (L, H, T, T) q·k/sqrt(D) + mask, the softmax's input
    lens: np.ndarray  # (L, T, V) the logit lens: the prediction read out after each layer
    embedding: Projection | None  # every token's embedding (V points); None: not projected
    inputs: Projection | None  # embed[token] + PE[position] of this sequence's positions (T points)
    knockout: tuple[int, int] | None = None  # the (layer, head) left out, 0-based

    @property
    def losses(self) -> np.ndarray:
        """(T,) cross-entropy -ln p(target) at each position, nan where the target is unknown."""
        known = self.targets >= 0
        p = self.probs[np.arange(len(self.targets)), np.where(known, self.targets, 0)]
        with np.errstate(divide="ignore"):
            return np.where(known, -np.log(p), np.nan)

    @property
    def predictions(self) -> np.ndarray:
        """(T,) the most probable token at each position."""
        return self.probs.argmax(axis=-1)

    def top(self, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """(T, k) ids and (T, k) probabilities of the k most probable tokens, best first."""
        ids = np.argsort(-self.probs, axis=-1, kind="stable")[:, :k]
        return ids, np.take_along_axis(self.probs, ids, axis=-1)


@dataclass(frozen=True)
class StepReport:
    """One optimizer step on one batch."""

    step: int  # optimizer steps done, this one included (1-based)
    epoch: int  # the epoch this step belongs to (1-based)
    loss: float  # mean cross-entropy of the batch, before the update
    acc: float  # fraction of the batch's counted positions predicted right
    lr: float  # learning rate used
    grad_norm: float  # global gradient norm, before clipping
    grad_norms: dict[str, float]  # per tensor, before clipping, in model order
    update_ratios: dict[str, float]  # per tensor: |update| / |weight|
    epoch_report: EpochReport | None = None  # set on the last step of an epoch
    lr_scale: float = 1.0  # the factor the lab's keys put on the schedule's rate (lr includes it)


@dataclass(frozen=True, eq=False)
class EpochReport:
    """One finished epoch: training averages, validation, and the probe sample."""

    epoch: int  # epochs done (1-based)
    step: int  # optimizer steps done
    loss: float  # training loss over the epoch, each counted position weighing the same
    acc: float  # training accuracy over the epoch
    val_loss: float
    val_acc: float
    lr: float  # learning rate of the epoch's last step
    grad_norm: float  # global gradient norm of the epoch's last step
    seconds: float  # training time so far (wall clock inside step())
    grad_norms: dict[str, float]  # per tensor, mean over the epoch's steps
    update_ratios: dict[str, float]  # per tensor, mean over the epoch's steps
    probe: ProbeReport
    inside: object | None = None  # the lab's look inside at the epoch's end (engine/analysis/inside.py)
    sample: object | None = None  # the lab's sample of what the model writes at the epoch's end (tfnp_tui/sampling.py)
    lr_scale: float = 1.0  # the factor on the schedule's rate at the epoch's last step (lr includes it)
    new_best: bool = False  # its val_loss is the lowest so far (engine/training/best.py)
    best_epoch: int = 0  # the epoch with the lowest val_loss so far, this one included (0: none yet)
    best_val_loss: float = float("inf")  # that epoch's val_loss
    out_of_patience: bool = False  # the run's --patience epochs without a new best end with this one

    def metrics(self) -> dict:
        """The JSON line written by --metrics-out."""
        keys = ("epoch", "step", "loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "seconds", "lr_scale")
        return {key: getattr(self, key) for key in keys}
