"""--inspect-heads: what each attention head of a model does, measured on its validation set.

For every layer and head: the attention entropy, the best-matching named pattern and its
score, and the validation loss and accuracy with that head knocked out (its output zeroed
before the output projection), beside the whole model's. A table, or with --json one JSON
object per head (the pinned keys of engine/analysis/heads.py HeadsReport.records).
"""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.analysis.heads import HeadsReport, measure_heads

from .describe import describe
from .numbers import loss_text, plural
from .setup import Setup


def run_inspect_heads(setup: Setup, as_json: bool) -> int:
    trainer = setup.trainer
    task = trainer.task
    report = measure_heads(trainer.model, task.val_tokens, task.val_targets)
    if as_json:
        for record in report.records():
            print(json.dumps({key: finite_or_none(value) for key, value in record.items()}, allow_nan=False))
        return 0
    console = Console(highlight=False, soft_wrap=True)
    console.print(describe(trainer))
    console.print(heads_table(report))
    for line in how_to_read(report):
        console.print(line, style="dim")
    return 0


def finite_or_none(value):
    """JSON has no nan: a figure that could not be measured (a causal head at T = 1) is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def number(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "-"


def heads_table(report: HeadsReport) -> Table:
    """One row per head: entropy, pattern and score, and the model without the head."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="dim")
    for name in ("head", "entropy bits", "pattern", "score", "val loss w/o", "val acc w/o", "Δ acc"):
        table.add_column(name, justify="left" if name in ("head", "pattern") else "right", no_wrap=True)
    for h in report.heads:
        change = h.val_acc - report.base_val_acc
        table.add_row(
            f"L{h.layer + 1} H{h.head + 1}", number(h.entropy_bits, ".2f"), h.pattern, number(h.pattern_score, ".2f"),
            loss_text(h.val_loss), f"{h.val_acc:.1%}", Text(f"{change:+.1%}", "bold" if change <= -0.1 else ""),
        )  # fmt: skip
    return table


def how_to_read(report: HeadsReport) -> list[str]:
    causal = " (causal: each row's entropy scaled to log2 T, the first row left out)" if report.causal else ""
    return [
        f"whole model: val loss {loss_text(report.base_val_loss)}, val acc {report.base_val_acc:.1%}, "
        f"on {plural(report.sequences, 'validation sequence')}",
        f"entropy: how spread each query's attention is, 0 bits = one key{causal}",
        "pattern: the named pattern that holds most of the head's attention (score 1 = exactly), "
        "or mixed when none does",
        "w/o: the head's output zeroed before the output projection; a large drop means the model needs it",
    ]
