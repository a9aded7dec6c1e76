"""ParamLayout: every parameter tensor laid end to end in one flat vector, in model order.

The model keeps its parameters in one flat array and hands out named views of it, so an
optimizer updates all of them with a handful of NumPy calls instead of a handful per tensor
(for the original 10k-parameter model that is most of the step), and a checkpoint, a clip or
a norm is one pass over one array.

    layout = ParamLayout({"embed": (20, 32), "head.b": (20,)})
    flat = np.zeros(layout.size); params = layout.views(flat)   # params["embed"] is a view of flat
"""

from __future__ import annotations

import math

import numpy as np

from .backend import array_module


class ParamLayout:
    """Names, shapes and offsets of tensors stored back to back in one 1-D array."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.shapes = dict(shapes)
        self.sizes = [math.prod(s) for s in self.shapes.values()]  # entries of each tensor
        self.starts = np.cumsum([0, *self.sizes[:-1]]).astype(np.int64)  # (tensors,) first entry of each
        self.size = int(sum(self.sizes))
        self._owners = None  # on the GPU: the tensor number of every entry, made when first needed

    @property
    def names(self) -> list[str]:
        return list(self.shapes)

    def views(self, flat) -> dict:
        """{name: view of flat, in the tensor's shape}: writing a view writes flat."""
        return {
            name: flat[start : start + size].reshape(shape)
            for (name, shape), start, size in zip(self.shapes.items(), self.starts.tolist(), self.sizes)
        }

    def flatten(self, tensors: dict, out=None):
        """One flat array of the tensors, in layout order (into `out` if given)."""
        first = next(iter(tensors.values()))
        xp = array_module(first)
        if out is None:
            out = xp.empty(self.size, dtype=first.dtype)
        return xp.concatenate([tensors[name].reshape(-1) for name in self.shapes], out=out)

    def sums(self, flat):
        """(tensors,) the sum of each tensor's entries of a flat array (of g * g: squared norms)."""
        xp = array_module(flat)
        if xp is np:
            return np.add.reduceat(flat, self.starts)
        # CuPy has no reduceat: one weighted bincount over each entry's tensor number instead
        if self._owners is None or array_module(self._owners) is not xp:
            self._owners = xp.asarray(np.repeat(np.arange(len(self.sizes), dtype=np.int32), self.sizes))
        return xp.bincount(self._owners, weights=flat, minlength=len(self.shapes))

    def matrix_mask(self, dtype, xp=np):
        """Flat 1.0 for entries of tensors with two or more axes (weights, the embedding), else 0.0."""
        mask = np.zeros(self.size, dtype=dtype)
        for shape, start, size in zip(self.shapes.values(), self.starts.tolist(), self.sizes):
            if len(shape) >= 2:
                mask[start : start + size] = 1
        return xp.asarray(mask)
