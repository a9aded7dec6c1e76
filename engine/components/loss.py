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
from ..runtime.fused import fused

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
    """logits (B, T, V), targets (B, T) int, not checked -> (loss, cache): on a GPU the loss is
    a 0-d float64 array, and nothing goes to the host; on the CPU a Python float. A batch
    with no counted position has loss 0 and gradient 0.
    ws: the training pass's Workspace, or None (components/__init__.py)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)  # (N, V)
    t = targets.reshape(-1)  # (N,)
    counted, safe = split_targets[xp](t)  # (N,) each
    n = counted.sum()  # 0-d
    into = (ws.empty(z.shape, z.dtype), ws.empty(z.shape, z.dtype)) if ws else (None, None)  # None: new arrays
    shifted, exp = shift_and_exp[xp](z, z.max(axis=-1, keepdims=True), *into)  # (N, V) each: row max 0, exp in (0, 1]
    sumexp = exp.sum(axis=-1, keepdims=True)  # (N, 1), >= 1
    nll = target_nll[xp](shifted[xp.arange(safe.shape[0]), safe], sumexp[:, 0], counted)  # (N,) 0 where ignored
    loss = mean_of_counted[xp](nll.sum(), n)  # float64: the int count makes it so
    probs = exp  # (N, V), normalised in place:
    probs /= sumexp
    return loss, CrossEntropyCache(probs, safe, counted, n, logits.shape, ws)


def backward(dloss, cache: CrossEntropyCache):
    """dloss (scalar, 1.0 for the loss itself) -> dlogits (B, T, V)."""
    xp = array_module(cache.probs)
    N, V = cache.probs.shape
    weight = xp.empty((N, 1), cache.probs.dtype)  # (N, 1) dloss / n where the target counts, else 0
    position_weight[xp](cache.counted[:, None], dloss, cache.n, weight)
    dz = (cache.ws or xp).empty((N, V), cache.probs.dtype)  # (N, V)
    softmax_nll_gradient[xp](cache.probs, xp.arange(V), cache.targets[:, None], weight, dz)
    return dz.reshape(cache.shape)


# the element-wise passes between the reductions: one fused kernel each on a GPU (runtime/fused.py)


@fused
def split_targets(xp):
    def kernel(t):  # t (N,) -> counted = [t != -1], safe = t where counted, else 0 (an index safe to gather with)
        counted = t != IGNORE
        return counted, t * counted

    return kernel


@fused
def shift_and_exp(xp):
    def kernel(z, row_max, shifted, exp):  # z (N, V), row_max (N, 1) -> shifted = z - row_max, exp(shifted)
        shifted = xp.subtract(z, row_max, out=shifted)  # into the arrays given, or new ones for None
        return shifted, xp.exp(shifted, out=exp)

    return kernel


@fused
def target_nll(xp):
    def kernel(shifted_target, sumexp, counted):  # (N,) each -> -log p[y] where counted, else 0
        return (xp.log(sumexp) - shifted_target) * counted

    return kernel


@fused
def mean_of_counted(xp):
    def kernel(total, n):  # 0-d each -> total / max(n, 1)
        return total / xp.maximum(n, 1)

    def numpy_form(total, n):  # the same division, in float64, of Python numbers: NumPy's scalars are slower
        return float(total) / max(int(n), 1)

    return numpy_form if xp is np else kernel  # NumPy's own form of the same numbers (runtime/fused.py)


@fused
def position_weight(xp):
    def kernel(counted, dloss, n, weight):  # counted (N, 1) -> weight (N, 1) = [counted] dloss / max(n, 1)
        xp.multiply(counted, dloss / xp.maximum(n, 1), out=weight)  # cast once, to weight's dtype

    def numpy_form(counted, dloss, n, weight):  # the same, with the scalar division in Python numbers
        weight[...] = counted  # 1.0 / 0.0
        weight *= float(dloss) / max(int(n), 1)

    return numpy_form if xp is np else kernel


@fused
def softmax_nll_gradient(xp):
    def kernel(probs, columns, targets, weight, dz):  # dz (N, V) = (probs - onehot(targets)) * weight
        xp.subtract(probs, xp.equal(columns, targets), out=dz)  # columns (V,) == targets (N, 1): the onehot
        dz *= weight

    def numpy_form(probs, columns, targets, weight, dz):  # the same numbers, without comparing columns:
        dz[...] = probs  # an (N, V) comparison is slow in NumPy (twice the time of the whole pass)
        dz[np.arange(len(dz)), targets[:, 0]] -= 1.0  # the one column a row where onehot is 1
        dz *= weight

    return numpy_form if xp is np else kernel
