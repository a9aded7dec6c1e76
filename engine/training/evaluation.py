"""Evaluation: a model's mean loss and accuracy on some sequences, without gradients; with
one attention head knocked out if asked (what the model loses without it)."""

from __future__ import annotations

from ..components import loss as cross_entropy
from ..components.loss import IGNORE
from ..runtime.memory import eval_batch_size


def right_and_counted(xp, logits, targets) -> tuple[int, int]:
    """Positions predicted right, and positions that count (target not IGNORE)."""
    targets = xp.asarray(targets)
    counted = targets != IGNORE
    right = (logits.argmax(axis=-1) == targets) & counted
    return int(right.sum()), int(counted.sum())


class Tally:
    """Loss and accuracy over the counted positions of batches, added one at a time."""

    def __init__(self, xp) -> None:
        self.xp = xp
        self.loss_sum, self.right, self.counted = 0.0, 0, 0

    def add(self, logits, targets) -> None:
        """logits (B, T, V), targets (B, T)."""
        right, counted = right_and_counted(self.xp, logits, targets)
        if counted:
            self.loss_sum += cross_entropy.forward(logits, self.xp.asarray(targets))[0] * counted
        self.right += right
        self.counted += counted

    def result(self) -> tuple[float, float]:
        """(mean loss, accuracy)."""
        return self.loss_sum / max(self.counted, 1), self.right / max(self.counted, 1)


def evaluate(model, tokens, targets, knockout: tuple[int, int] | None = None) -> tuple[float, float]:
    """tokens, targets (N, T) -> mean loss and accuracy over the counted positions, in
    forward passes of eval_batch_size(T) sequences. knockout: (layer, head), 0-based."""
    tally = Tally(model.xp)
    n = eval_batch_size(tokens.shape[1])
    for i in range(0, len(tokens), n):
        logits = model.forward(tokens[i : i + n], knockout=knockout)[0]  # the cache goes at once
        tally.add(logits, targets[i : i + n])
    return tally.result()
