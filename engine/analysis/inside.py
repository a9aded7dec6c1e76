"""The lab's look inside the model at the end of every epoch: the heads' table and the
dead ReLU units on the probe batch (the first validation sequences), and the probe sample
with each head knocked out, so that a replayed epoch can show the model without any head.

The probe batch holds PROBE_POSITIONS positions (at least one sequence): the lab measures
every head at every epoch's end, so this is kept small; `tfnp-tui --inspect-heads` measures
the whole validation set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..training.reports import ProbeReport
from .heads import HeadsReport, measure_heads
from .health import dead_relu_share
from .probe import look

PROBE_POSITIONS = 256
KEEP_KNOCKED_BYTES = 2 * 2**20  # the probe sample without each head is kept while it is this small


@dataclass(frozen=True, eq=False)
class InsideReport:
    """What the lab's instruments show of one epoch (see the module's doc)."""

    heads: HeadsReport  # on the probe batch
    dead_relu: list[float] | None  # per layer, on the probe batch (None: GELU)
    knocked: dict[tuple[int, int], ProbeReport] | None  # (layer, head) -> the probe sample without it


def probe_batch(task):
    """The first validation sequences, PROBE_POSITIONS positions (tokens, targets (N, T))."""
    n = max(1, min(len(task.val_tokens), PROBE_POSITIONS // task.val_tokens.shape[1]))
    return task.val_tokens[:n], task.val_targets[:n]


def probe_bytes(cfg) -> int:
    """The bytes of one ProbeReport: attention weights and scores, the probabilities after
    each layer and at the output, the embedding space."""
    L, H, T, V = cfg.n_layers, cfg.n_heads, cfg.seq_len, cfg.vocab_size
    return 8 * (2 * L * H * T * T + (L + 1) * T * V + 2 * V + 2 * T)


def knocked_bytes(cfg) -> int:
    """The bytes of the probe sample analysed without every head, one head at a time."""
    return cfg.n_layers * cfg.n_heads * probe_bytes(cfg)


def look_inside(model, task, probe: ProbeReport | None = None) -> InsideReport:
    """The look inside `model` on `task`'s probe batch; the probe sample without each head
    shares the embedding space of `probe` (the sample's whole-model report), if given: a
    knock-out changes no embedding."""
    tokens, targets = probe_batch(task)
    knocked = None
    if knocked_bytes(model.cfg) <= KEEP_KNOCKED_BYTES:
        sample, answers = task.probe()
        heads = [(layer, head) for layer in range(model.cfg.n_layers) for head in range(model.cfg.n_heads)]
        knocked = {lh: look(model, sample, answers, knockout=lh, spaces=False) for lh in heads}
        if probe is not None:
            knocked = {lh: replace(p, embedding=probe.embedding, inputs=probe.inputs) for lh, p in knocked.items()}
    return InsideReport(measure_heads(model, tokens, targets), dead_relu_share(model, tokens), knocked)
