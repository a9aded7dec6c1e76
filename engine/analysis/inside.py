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
from .health import DeadUnits
from .probe import probe_report
from .readout import analysis_of

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


def keeps_knocked(cfg) -> bool:
    """Whether each epoch keeps the probe sample without each head (small enough to)."""
    return knocked_bytes(cfg) <= KEEP_KNOCKED_BYTES


def look_inside(model, task, probe: ProbeReport | None = None) -> InsideReport:
    """The look inside `model` on `task`'s probe batch, in the passes of measure_heads: they
    hold the probe sample (the batch's first sequence) without each head too. The sample's
    reports without a head share the embedding space of `probe` (its whole-model report),
    if given: a knock-out changes no embedding."""
    cfg = model.cfg
    tokens, targets = probe_batch(task)
    sample, answers = task.probe()  # the first sequence of the probe batch
    keep = keeps_knocked(cfg)
    units = DeadUnits() if cfg.activation == "relu" else None
    without: dict[tuple[int, int], ProbeReport] = {}

    def sample_without_each_head(logits, cache, n: int, models: list, first: bool) -> None:
        for k, knocked in enumerate(models):
            if knocked is not None and first:  # copy k starts with the sample, without that head
                seen = analysis_of(model, logits, cache, slice(k * n, k * n + 1))
                report = probe_report(model, seen, sample[0], answers[0], knocked, spaces=False)
                without[knocked] = replace(report, embedding=probe.embedding, inputs=probe.inputs) if probe else report

    def on_pass(logits, cache, n: int, models: list, first: bool) -> None:
        if units is not None and models[0] is None:
            units.add(cache, slice(0, n))  # the whole model's copy
        if keep:
            sample_without_each_head(logits, cache, n, models, first)

    heads = measure_heads(model, tokens, targets, on_pass)
    return InsideReport(heads, units.shares() if units else None, without if keep else None)
