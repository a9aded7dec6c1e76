"""How much memory training a model takes, estimated before anything is allocated, so that a
model too large for the machine is refused with a clear message instead of being killed.

Legend: B batch, T sequence, C d_model, H heads, F d_ff, V vocabulary, L layers, P parameters,
N = B*T positions. A float is 4 bytes (float32) or 8 (float64).

    parameters and their copies   P * (params, flat gradient, named gradients, optimizer state,
                                       3 step temporaries: the update and squares for the norms)
    activations kept for backward L * (8 N C + N F + B H T^2)  + 3 N V    (logits, probs, dlogits)
                                  + 2 L N F with GELU (its input and tanh, kept)
    temporaries of one backward   2 B H T^2 + 2 N F + 4 N C  (+ 3 N F with GELU)
                                  + N V: the embedding's one-hot matrix (N C where it sorts instead)
    the workspace, on top         2 N F + 4 N C (+ 3 N F): the training pass's workspace
                                  (workspace.py) keeps a buffer for each shape in use at once,
                                  where malloc shares freed blocks between the (N, C) and (N, F)
                                  temporaries; measured, it holds about one more set of them
    with dropout, on top          L * (B H T^2 + 2 N C + N F) masks kept, and 2 B H T^2 in backward
                                  + L N F with ReLU (the dropped activations, beside its output)

Evaluation runs forward passes of eval_batch_size(T) sequences (at most EVAL_BATCH, at most
EVAL_POSITIONS positions), with the same activations; the peak is the larger of a training
step and an evaluation pass. The estimate is within a
factor of two of what NumPy really allocates (tests/engine/test_memory.py measures it).
"""

from __future__ import annotations

import os

import numpy as np

from ..config import ModelConfig
from ..params import param_shapes
from ..training.optim import make_optimizer
from .backend import uses_one_hot
from .layout import ParamLayout

EVAL_BATCH = 256  # sequences per forward pass when evaluating...
EVAL_POSITIONS = 8192  # ...and fewer for long sequences: this bounds an evaluation pass's memory


def eval_batch_size(seq_len: int) -> int:
    """Sequences per evaluation pass: EVAL_BATCH, or fewer so that a pass holds at most
    EVAL_POSITIONS positions."""
    return max(1, min(EVAL_BATCH, EVAL_POSITIONS // seq_len))


def training_bytes(
    cfg: ModelConfig, batch_size: int, optimizer: str = "adam", val_samples: int = 0, dropout: bool = False
) -> int:
    """Bytes that training `cfg` at `batch_size` needs at its peak, roughly: a step's (with
    dropout's masks if `dropout`), or an evaluation pass's over the `val_samples` held-out
    sequences if that is larger."""
    P = ParamLayout(param_shapes(cfg)).size
    step = activations(cfg, batch_size) + backward_temporaries(cfg, batch_size) + workspace_extra(cfg, batch_size)
    if dropout:
        step += dropout_floats(cfg, batch_size)
    evaluation = activations(cfg, min(eval_batch_size(cfg.seq_len), val_samples))
    floats = P * (3 + 3 + state_copies(optimizer)) + max(step, evaluation)
    return floats * np.dtype(cfg.dtype).itemsize


def state_copies(optimizer: str) -> int:
    """Parameter-sized arrays the optimizer keeps: each state array and its spare for
    commit(), and AdamW's decay mask."""
    return 2 * len(make_optimizer(optimizer).state_names) + (optimizer == "adamw")


def activations(cfg: ModelConfig, B: int) -> int:
    """Floats a forward pass over B sequences keeps for backward."""
    T, C, H, F, V, L = cfg.seq_len, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.vocab_size, cfg.n_layers
    N = B * T
    return L * (8 * N * C + N * F + B * H * T * T + (cfg.activation == "gelu") * 2 * N * F) + 3 * N * V


def backward_temporaries(cfg: ModelConfig, B: int) -> int:
    """Floats one layer's backward pass allocates on top of the activations, and the embedding's."""
    T, C, H, F, V = cfg.seq_len, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.vocab_size
    N = B * T
    embedding = N * V if uses_one_hot(V, C) else N * C  # its one-hot matrix, or the sorted rows
    return 2 * B * H * T * T + 2 * N * F + 4 * N * C + (cfg.activation == "gelu") * 3 * N * F + embedding


def workspace_extra(cfg: ModelConfig, B: int) -> int:
    """Floats the training pass's workspace holds beyond what malloc would: one more set of a
    backward's (N, C) and (N, F) temporaries (the (B, H, T, T) ones come back in their own shape)."""
    T, C, F = cfg.seq_len, cfg.d_model, cfg.d_ff
    N = B * T
    return 2 * N * F + 4 * N * C + (cfg.activation == "gelu") * 3 * N * F


def dropout_floats(cfg: ModelConfig, B: int) -> int:
    """Floats dropout adds to a training step over B sequences: the masks kept for backward;
    with ReLU, the dropped activations as well (the next product's input, while ReLU keeps
    its own output; GELU keeps its input instead); and the dropped attention weights
    recomputed and masked in backward."""
    T, C, H, F, L = cfg.seq_len, cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_layers
    N = B * T
    ffn = (2 if cfg.activation == "relu" else 1) * N * F
    return L * (B * H * T * T + 2 * N * C + ffn) + 2 * B * H * T * T


def available_bytes() -> int | None:
    """Memory a new run can have: the kernel's MemAvailable (free memory and caches it can
    drop), or the machine's physical memory where that is not known; None where neither is."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
