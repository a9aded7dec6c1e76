"""Softmax cross-entropy over the vocabulary, averaged over the positions that count.

Legend: B batch, T sequence, V vocabulary, N = B*T positions, n = positions whose target
is not -1 (IGNORE). With p = softmax(z) per position and y the target,
    loss = -(1/n) sum_counted log p[y],      dloss/dz = (p - onehot(y)) / n  (0 where ignored).
Stable for any finite logits: z is shifted by its row maximum before exp, so exp never
overflows and the log-sum-exp is at least 0.
"""

from __future__ import annotations

from typing import NamedTuple

from ..runtime.backend import array_module

IGNORE = -1


class CrossEntropyCache(NamedTuple):
    probs: object  # (N, V) softmax of the logits
    targets: object  # (N,) targets with ignored positions set to 0
    counted: object  # (N,) bool, True where the target counts
    n: int  # number of counted positions
    shape: tuple  # (B, T, V) of the logits


def check_targets(targets, logits_shape: tuple) -> None:
    """Raise ValueError unless targets are ints of shape (B, T), each in -1..V-1."""
    *positions, vocab_size = logits_shape
    if targets.dtype.kind not in "iu" or targets.shape != tuple(positions):
        raise ValueError(
            f"targets must be an int array of shape {tuple(positions)} like the tokens, "
            f"got {targets.dtype} {targets.shape}"
        )
    if targets.size and (targets.min() < IGNORE or targets.max() >= vocab_size):
        bad = targets[(targets < IGNORE) | (targets >= vocab_size)].ravel()[0]
        raise ValueError(
            f"target {int(bad)} is outside the vocabulary 0..{vocab_size - 1} "
            f"(or {IGNORE} for a position that does not count)"
        )


def forward(logits, targets):
    """logits (B, T, V), targets (B, T) int -> (loss: float, cache)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    check_targets(targets, logits.shape)
    z = logits.reshape(-1, V)  # (N, V)
    t = targets.reshape(-1)  # (N,)
    counted = t != IGNORE  # (N,)
    n = int(counted.sum())
    if n == 0:
        raise ValueError(f"every target is {IGNORE}: no position counts towards the loss")
    t = xp.where(counted, t, 0)  # (N,) safe to index with
    shifted = z - z.max(axis=-1, keepdims=True)  # (N, V), row max is 0
    exp = xp.exp(shifted)  # (N, V), in (0, 1]
    sumexp = exp.sum(axis=-1, keepdims=True)  # (N, 1), >= 1
    logp_target = shifted[xp.arange(t.shape[0]), t] - xp.log(sumexp[:, 0])  # (N,)
    loss = -float((logp_target * counted).sum()) / n
    probs = exp / sumexp  # (N, V)
    return loss, CrossEntropyCache(probs, t, counted, n, logits.shape)


def backward(dloss, cache: CrossEntropyCache):
    """dloss (scalar, 1.0 for the loss itself) -> dlogits (B, T, V)."""
    xp = array_module(cache.probs)
    dz = cache.probs.copy()  # (N, V)
    dz[xp.arange(dz.shape[0]), cache.targets] -= 1.0
    weight = cache.counted.astype(dz.dtype)  # (N,) 1 where the target counts, else 0
    weight *= dloss / cache.n  # a Python float: stays in dz's dtype
    dz *= weight[:, None]
    return dz.reshape(cache.shape)
