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


def evaluate(model, tokens, targets, knockout: tuple[int, int] | None = None) -> tuple[float, float]:
    """tokens, targets (N, T) -> mean loss and accuracy over the counted positions, in
    forward passes of eval_batch_size(T) sequences. knockout: (layer, head), 0-based."""
    xp = model.xp
    loss_sum, right_sum, counted_sum = 0.0, 0, 0
    n = eval_batch_size(tokens.shape[1])
    for i in range(0, len(tokens), n):
        tok, tgt = tokens[i : i + n], targets[i : i + n]
        logits = model.forward(tok, knockout=knockout)[0]  # the cache goes at once, not after the next pass
        right, counted = right_and_counted(xp, logits, tgt)
        if counted:
            loss_sum += cross_entropy.forward(logits, xp.asarray(tgt))[0] * counted
        right_sum += right
        counted_sum += counted
    return loss_sum / max(counted_sum, 1), right_sum / max(counted_sum, 1)
