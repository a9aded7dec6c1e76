"""Evaluation: a model's mean loss and accuracy on some sequences, without gradients; with
one attention head knocked out if asked (what the model loses without it).

On a GPU the sums stay on the device until the last batch: one transfer for the whole
evaluation, however many batches it takes."""

from __future__ import annotations

import numpy as np

from ..components import loss as cross_entropy
from ..components.embedding import check_tokens
from ..components.loss import IGNORE, check_targets
from ..runtime.backend import to_numpy
from ..runtime.memory import eval_batch_size


def right_and_counted(xp, logits, targets):
    """Positions predicted right, and positions that count (target not IGNORE): 0-d arrays
    on the logits' device (int() them for the host)."""
    targets = xp.asarray(targets)
    counted = targets != IGNORE
    right = (logits.argmax(axis=-1) == targets) & counted
    return right.sum(), counted.sum()


class Tally:
    """Loss and accuracy over the counted positions of batches, added one at a time; the
    sums stay on the device until result()."""

    def __init__(self, xp) -> None:
        self.xp = xp
        self.sums = []  # (3,) float64 [loss * counted, right, counted] of each batch, on the device

    def add(self, logits, targets) -> None:
        """logits (B, T, V), targets (B, T), checked before."""
        xp, targets = self.xp, self.xp.asarray(targets)
        right, counted = right_and_counted(xp, logits, targets)
        loss = cross_entropy.mean_loss(logits, targets)[0]  # 0 when no position counts
        self.sums.append(xp.stack([loss * counted, right, counted]).astype(xp.float64))

    def result(self) -> tuple[float, float]:
        """(mean loss, accuracy): the one transfer."""
        if not self.sums:
            return 0.0, 0.0
        loss_sum = right = counted = 0.0
        for batch_loss, batch_right, batch_counted in to_numpy(self.xp.stack(self.sums)).tolist():
            loss_sum, right, counted = loss_sum + batch_loss, right + batch_right, counted + batch_counted
        return loss_sum / max(counted, 1), right / max(counted, 1)


def checked_on_device(model, tokens: np.ndarray, targets: np.ndarray):
    """(tokens, targets) (N, T) checked once, here on the host, and copied to the model's
    device once: the passes over them check nothing (a check on a GPU is a transfer back)."""
    check_tokens(tokens, model.cfg.vocab_size)
    check_targets(targets, (*tokens.shape, model.cfg.vocab_size))
    return model.xp.asarray(tokens), model.xp.asarray(targets)


def evaluate(model, tokens, targets, knockout: tuple[int, int] | None = None) -> tuple[float, float]:
    """tokens, targets (N, T) on the host -> mean loss and accuracy over the counted
    positions, in forward passes of eval_batch_size(T) sequences. knockout: (layer, head),
    0-based. The ids are checked here once; the sequences go to the device once."""
    return evaluate_checked(model, *checked_on_device(model, tokens, targets), knockout)


def evaluate_checked(model, tokens, targets, knockout: tuple[int, int] | None = None) -> tuple[float, float]:
    """evaluate() of (tokens, targets) already on the model's device, checked (checked_on_device)."""
    tally = Tally(model.xp)
    n = eval_batch_size(tokens.shape[1])
    for i in range(0, len(tokens), n):
        logits = model.forward(tokens[i : i + n], knockout=knockout, validate=False)[0]  # the cache goes at once
        tally.add(logits, targets[i : i + n])
    return tally.result()
