"""Softmax cross-entropy over the vocabulary, averaged over the positions that count.

Legend: B batch, T sequence, V vocabulary, N = B*T positions, n = positions whose target
is not -1 (IGNORE). With p = softmax(z) per position and y the target,
    loss = -(1/n) sum_counted log p[y],      dloss/dz = (p - onehot(y)) / n  (0 where ignored).
Stable for any finite logits: z is shifted by its row maximum before exp, so exp never
overflows and the log-sum-exp is at least 0.

forward() checks the targets and gives the loss as a Python float; mean_loss() is the same
computation with neither, for the trainer on a GPU: its loss and counts stay 0-d arrays on
the device, so a step needs no transfer to the host (the trainer checks a task's targets once).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..runtime.backend import array_module

IGNORE = -1


class CrossEntropyCache(NamedTuple):
    probs: object  # (N, V) softmax of the logits
    targets: object  # (N,) targets with ignored positions set to 0
    counted: object  # (N,) bool, True where the target counts
    n: object  # 0-d int array: the number of counted positions
    shape: tuple  # (B, T, V) of the logits
    ws: object = None  # the Workspace backward takes its arrays from; None: fresh ones


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


def forward(logits, targets, ws=None):
    """logits (B, T, V), targets (B, T) int -> (loss: float, cache). ValueError for targets
    outside -1..V-1, or when every target is -1."""
    check_targets(targets, logits.shape)
    loss, cache = mean_loss(logits, targets, ws)
    if int(cache.n) == 0:
        raise ValueError(f"every target is {IGNORE}: no position counts towards the loss")
    return float(loss), cache


def mean_loss(logits, targets, ws=None):
    """logits (B, T, V), targets (B, T) int, not checked -> (loss: 0-d array, cache); no
    transfer to the host. A batch with no counted position has loss 0 and gradient 0.
    ws: the training pass's Workspace, or None (components/__init__.py)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)  # (N, V)
    t = targets.reshape(-1)  # (N,)
    counted = t != IGNORE  # (N,)
    n = counted.sum()  # 0-d
    t = xp.where(counted, t, 0)  # (N,) safe to index with
    zmax = z.max(axis=-1, keepdims=True)  # (N, 1)
    shifted = np.subtract(z, zmax, out=ws and ws.empty(z.shape, z.dtype))  # (N, V), row max is 0
    exp = xp.exp(shifted, out=ws and ws.empty(z.shape, z.dtype))  # (N, V), in (0, 1]
    sumexp = exp.sum(axis=-1, keepdims=True)  # (N, 1), >= 1
    logp_target = shifted[xp.arange(t.shape[0]), t] - xp.log(sumexp[:, 0])  # (N,)
    loss = -(logp_target * counted).sum() / xp.maximum(n, 1)  # 0-d; the int count makes it float64
    probs = exp  # (N, V), normalised in place:
    probs /= sumexp
    return loss, CrossEntropyCache(probs, t, counted, n, logits.shape, ws)


def backward(dloss, cache: CrossEntropyCache):
    """dloss (scalar, 1.0 for the loss itself) -> dlogits (B, T, V)."""
    xp = array_module(cache.probs)
    if cache.ws is None:
        dz = cache.probs.copy()  # (N, V)
    else:
        dz = cache.ws.empty(cache.probs.shape, cache.probs.dtype)  # (N, V)
        dz[...] = cache.probs
    dz[xp.arange(dz.shape[0]), cache.targets] -= 1.0
    weight = cache.counted.astype(dz.dtype)  # (N,) 1 where the target counts, else 0
    weight *= (dloss / xp.maximum(cache.n, 1)).astype(dz.dtype)  # 0-d, cast: a float64 would widen dz
    dz *= weight[:, None]
    return dz.reshape(cache.shape)
