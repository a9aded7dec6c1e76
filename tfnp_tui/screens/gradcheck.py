"""The gradient check's result: one row per tensor, max relative error against central
finite differences, analytic and numeric norms, pass or fail, and how long it took."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from engine.gradcheck import GradcheckReport

from .modal import ScrollingModal


def report_table(report: GradcheckReport) -> Table:
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


class GradcheckScreen(ScrollingModal):
    """Shows 'checking…' until the App hands it the report."""

    BOX_TITLE = "Gradient check"
    BINDINGS = [Binding("escape,q,g,enter", "dismiss", "close")]

    def body(self) -> ComposeResult:
        yield Static("checking every tensor against central finite differences in float64…", id="gradcheck-body")

    def show(self, report: GradcheckReport, step: int) -> None:
        verdict = (
            Text(f"all {len(report.tensors)} tensors pass", "bold green")
            if report.passed
            else Text(f"{sum(not t.passed for t in report.tensors)} tensors FAIL", "bold red")
        )
        summary = Text.assemble(
            verdict,
            f"  ·  worst {report.max_rel_error:.1e} (tolerance {report.tensors[0].tolerance:.0e})",
            f"  ·  {report.seconds:.1f}s  ·  the model at step {step:,}\n",
            ("error = max |analytic - numeric| / tensor scale; h = 1e-5, float64", "dim"),
        )
        body = Table.grid()
        body.add_row(summary)
        body.add_row(report_table(report))
        self.query_one("#gradcheck-body", Static).update(body)
