"""Sinusoidal positional encoding (Vaswani et al. 2017), a fixed table with no parameters.

PE[p, 2i] = sin(p / 10000^(2i/C)),  PE[p, 2i+1] = cos(p / 10000^(2i/C)).
It is added to the token embeddings, so its backward pass is the identity: the gradient
of x = embed[tokens] + PE flows unchanged to the embedding.
"""

from __future__ import annotations

import numpy as np


def sinusoidal(seq_len: int, d_model: int, dtype="float64") -> np.ndarray:
    """The (seq_len, d_model) table; d_model must be even."""
    position = np.arange(seq_len, dtype=np.float64)[:, None]  # (T, 1)
    two_i = np.arange(0, d_model, 2, dtype=np.float64)  # (C/2,)
    angle = position / 10000.0 ** (two_i / d_model)  # (T, C/2)
    table = np.empty((seq_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle)
    return table.astype(dtype)
