"""Short human descriptions of a run, shared by the headless output and the lab."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from engine.gradcheck import COLUMNS, GradcheckReport
from engine.training.trainer import Trainer

from .numbers import factor_text, plural


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
    """'adam lr 1.0e-03' plus schedule, warm-up, clipping and dropout when used."""
    t = trainer.train_cfg
    parts = [f"{t.optimizer} lr {t.lr:.1e}"]
    if trainer.lr_scale != 1:  # a checkpoint's factor from the lab's keys
        parts.append(factor_text(trainer.lr_scale))
    if t.schedule != "constant":
        parts.append(t.schedule)
    if t.warmup:
        parts.append(f"warmup {t.warmup}")
    if t.clip:
        parts.append(f"clip {t.clip:g}")
    if t.dropout:
        parts.append(f"dropout {t.dropout:g}")
    return " ".join(parts)


def describe(trainer: Trainer) -> str:
    """One line, a run's first: everything it was set to, the task's own defaults included
    (task, model, optimizer, data, size, device)."""
    t = trainer.train_cfg
    return (
        f"tfnp  task {t.task}  {model_summary(trainer)}  {optimizer_summary(trainer)}  "
        f"{len(trainer.task.train_tokens)} samples of {trainer.model_cfg.seq_len} tokens  batch {t.batch_size}  "
        f"{plural(t.epochs, 'epoch')}{f'  patience {t.patience}' if t.patience else ''}  seed {t.seed}  "
        f"{trainer.model.num_params:,} params  {trainer.model.device}"
    )


def gradcheck_table(report: GradcheckReport) -> Table:
    """One row per tensor (TensorCheck.cells: error, analytic and numeric norms, entries
    compared), marked pass, FAIL, or zero (both gradients under the finite differences' noise)."""
    table = Table(box=None, padding=(0, 1), header_style="dim")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name in ("tensor", "") else "right", no_wrap=True)
    marks = {"pass": Text("✓ pass", "green"), "zero": Text("✓ zero", "green"), "FAIL": Text("✗ FAIL", "bold red")}
    for t in report.tensors:
        *cells, verdict = t.cells()
        if verdict == "zero":
            cells[1] = Text(cells[1], "dim")
        table.add_row(*cells, marks[verdict])
    return table


def gradcheck_verdict(report: GradcheckReport) -> Text:
    """'all 36 tensors pass  ·  worst 3.1e-07 (tolerance 1e-06)  ·  2 zero (below noise floor)
    ·  1 entry at a ReLU kink not checkable  ·  8.5s'; the zero and kink parts only where they apply."""
    failed = report.failed
    head = (Text(f"all {len(report.tensors)} tensors pass", "bold green") if not failed
            else Text(f"{failed} of {len(report.tensors)} tensors FAIL", "bold red"))  # fmt: skip
    parts = [f"worst {report.max_rel_error:.1e} (tolerance {report.tensors[0].tolerance:.0e})"]
    zero = sum(t.zero and t.passed for t in report.tensors)
    if zero:
        parts.append(f"{zero} zero (below noise floor)")
    if report.at_kinks:
        entries = "entry" if report.at_kinks == 1 else "entries"
        parts.append(f"{report.at_kinks} {entries} at a ReLU kink not checkable")
    parts.append(f"{report.seconds:.1f}s")
    return Text.assemble(head, *(f"  ·  {part}" for part in parts))
