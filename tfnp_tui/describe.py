"""Short human descriptions of a run, shared by the headless output and the lab."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from engine.gradcheck import GradcheckReport
from engine.trainer import Trainer


def model_summary(trainer: Trainer) -> str:
    """'L2 H2 d32 ff64 post-LN relu' and the flags that change the defaults."""
    m = trainer.model_cfg
    parts = [
        f"L{m.n_layers} H{m.n_heads} d{m.d_model} ff{m.d_ff}",
        "pre-LN" if m.norm_first else "post-LN",
        m.activation,
    ]
    if m.causal:
        parts.append("causal")
    if m.dtype != "float32":
        parts.append(m.dtype)
    return " ".join(parts)


def optimizer_summary(trainer: Trainer) -> str:
    """'adam lr 1.0e-03' plus schedule, warm-up and clipping when used."""
    t = trainer.train_cfg
    parts = [f"{t.optimizer} lr {t.lr:.1e}"]
    if t.schedule != "constant":
        parts.append(t.schedule)
    if t.warmup:
        parts.append(f"warmup {t.warmup}")
    if t.clip:
        parts.append(f"clip {t.clip:g}")
    return " ".join(parts)


def describe(trainer: Trainer) -> str:
    """One line: task, model, optimizer, data, size, device."""
    t = trainer.train_cfg
    return (
        f"tfnp  task {t.task}  {model_summary(trainer)}  {optimizer_summary(trainer)}  "
        f"{len(trainer.task.train_tokens)} samples  batch {t.batch_size}  {t.epochs} epochs  seed {t.seed}  "
        f"{trainer.model.num_params:,} params  {trainer.model.device}"
    )


def gradcheck_table(report: GradcheckReport) -> Table:
    """One row per tensor: max relative error, analytic and numeric norms, entries, pass or fail."""
    table = Table(box=None, padding=(0, 1), header_style="dim")
    for name, justify in (("tensor", "left"), ("max rel err", "right"), ("analytic", "right"),
                          ("numeric", "right"), ("entries", "right"), ("", "left")):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=True)
    for t in report.tensors:
        table.add_row(
            t.name, f"{t.max_rel_error:.1e}", f"{t.analytic_norm:.3e}", f"{t.numeric_norm:.3e}",
            f"{t.checked}/{t.size}", Text("✓ pass", "green") if t.passed else Text("✗ FAIL", "bold red"),
        )  # fmt: skip
    return table


def gradcheck_verdict(report: GradcheckReport) -> Text:
    """'all 18 tensors pass  ·  worst 3.1e-09 (tolerance 1e-06)  ·  1.2s'."""
    failed = report.failed
    head = (Text(f"all {len(report.tensors)} tensors pass", "bold green") if not failed
            else Text(f"{failed} of {len(report.tensors)} tensors FAIL", "bold red"))  # fmt: skip
    tolerance = report.tensors[0].tolerance
    return Text.assemble(
        head, f"  ·  worst {report.max_rel_error:.1e} (tolerance {tolerance:.0e})  ·  {report.seconds:.1f}s"
    )
