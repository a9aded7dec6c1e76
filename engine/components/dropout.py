"""Inverted dropout, as PyTorch does it, and where its masks come from.

In training each entry is kept with probability 1 - p and the kept entries are scaled by
1 / (1 - p), so every entry keeps its expected value and evaluation needs no dropout at all:
it simply passes no masks. A mask holds the whole operation, 0 where an entry is dropped and
1 / (1 - p) where it is kept, in the activations' dtype and shape, so the pair is a product
both ways (any shape):

    forward(x, mask)   -> y  = x * mask        mask None (dropout off): y is x itself, no pass
    backward(dy, mask) -> dx = dy * mask       y_i = m_i x_i, so dy_i/dx_i = m_i

(forward takes ws too, the training pass's Workspace, or None: components/__init__.py; the
masks, drawn afresh every step, and the products of backward are fresh arrays either way).

The model asks a mask source for every mask of one forward pass at once, in the order of
that pass (TransformerEncoder.forward): source.masks(shapes, dtype, xp) -> list of masks,
each on xp's device. A source also has p, the probability of dropping an entry.

    Dropout(p, rng)        fresh masks from a NumPy Generator (a training step: one Generator a step)
    Fixed(Dropout(p, rng)) the masks of the first pass, handed out again to every pass after
                           (the gradient check: every perturbed evaluation sees the same masks)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def forward(x, mask, ws=None):
    """x (any shape) -> y = x * mask, mask shaped like x; with mask None, x itself."""
    if mask is None:
        return x
    return np.multiply(x, mask, out=ws and ws.empty(x.shape, x.dtype))  # x * mask


def backward(dy, mask):
    """dy (any shape) -> dx = dy * mask: a dropped entry passes no gradient, a kept one is scaled."""
    if mask is None:
        return dy
    return dy * mask


def draw(rng: np.random.Generator, p: float, shape: tuple[int, ...], dtype, xp=np):
    """One mask: each entry 0 with probability p, else 1 / (1 - p), in `dtype`, on xp's device.

    Drawn on the host from `rng` (so the CPU and the GPU get the same masks), then moved."""
    keep = keep_flags(rng, p, math.prod(shape))
    return xp.asarray(np.multiply(keep, scale_of(p, dtype)).reshape(shape))  # 0 or 1 / (1 - p), in dtype


def keep_flags(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    """(n,) bool, each True with probability 1 - p. Each entry compares a uniform 32-bit integer
    with p * 2^32: the keep rate is 1 - p to within 2^-32, from the generator's raw 64-bit
    words (four times faster than rng.random)."""
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]  # (n,) uniform on 0 .. 2^32 - 1
    return bits >= np.uint32(min(math.ceil(p * 2**32), 2**32 - 1))


def scale_of(p: float, dtype):
    """1 / (1 - p), the factor on a kept entry, as a scalar of `dtype`."""
    return np.dtype(dtype).type(1.0 / (1.0 - p))


class Dropout:
    """Fresh masks with drop probability p (0 <= p < 1) from a NumPy Generator, drawn in the
    order asked: the same Generator state gives the same masks."""

    def __init__(self, p: float, rng: np.random.Generator) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = float(p), rng

    def masks(self, shapes: Sequence[tuple[int, ...]], dtype, xp=np) -> list:
        """One mask per shape, in order. For a device, every keep flag of the pass goes over
        in one copy, a byte an entry (a quarter of float32 masks), and the masks are made there."""
        if xp is np:
            return [draw(self.rng, self.p, shape, dtype) for shape in shapes]
        sizes = [math.prod(shape) for shape in shapes]
        keep = np.concatenate([keep_flags(self.rng, self.p, n) for n in sizes])  # the same draws, in order
        flags = xp.asarray(keep.view(np.uint8))  # (sum of sizes,) the one copy
        scale = scale_of(self.p, dtype)
        every = flags.astype(dtype) * scale  # 0 or 1 / (1 - p)
        starts = np.cumsum([0, *sizes[:-1]]).tolist()
        return [every[start : start + n].reshape(shape) for start, n, shape in zip(starts, sizes, shapes)]


class Fixed:
    """One set of masks, drawn from `source` by the first pass that asks and handed out again
    to every pass after it; a pass asking for other shapes is refused (ValueError)."""

    def __init__(self, source: Dropout) -> None:
        self.p = source.p
        self.source = source
        self.drawn: list | None = None  # the masks, once drawn

    def masks(self, shapes: Sequence[tuple[int, ...]], dtype, xp=np) -> list:
        """The first pass's masks, whatever the pass."""
        if self.drawn is None:
            self.drawn = self.source.masks(shapes, dtype, xp)
        if [tuple(m.shape) for m in self.drawn] != [tuple(s) for s in shapes]:
            raise ValueError("fixed dropout masks: this pass needs masks of other shapes than the first")
        return self.drawn
