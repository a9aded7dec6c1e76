"""Bringing several device arrays to the host in one transfer.

On a GPU each copy to the host waits for every kernel queued before it and pays a fixed
latency, so an instrument that needs ten small arrays (the probe: logits, attention maps,
scores, the logit lens...) fetches them together: raveled into one buffer on the device,
one copy, then split and reshaped on the host. On the CPU it returns the arrays as they are.
"""

from __future__ import annotations

import numpy as np

from .backend import array_module


def fetch(*arrays) -> list[np.ndarray]:
    """Host copies of `arrays` (any shapes), in order, in one transfer. Every array is carried
    in the widest of their dtypes and given back in its own, so the values are exact."""
    xp = array_module(arrays[0]) if arrays else np
    if xp is np:
        return [np.asarray(a) for a in arrays]
    carrier = np.result_type(*[a.dtype for a in arrays])
    flat = xp.concatenate([a.reshape(-1).astype(carrier) for a in arrays]).get()  # the one transfer
    out, start = [], 0
    for a in arrays:
        out.append(flat[start : start + a.size].reshape(a.shape).astype(a.dtype))
        start += a.size
    return out
