"""The gradient check's result: one row per tensor, max relative error against central
finite differences, analytic and numeric norms, pass, fail or zero (a gradient under the
finite differences' noise floor), entries at ReLU kinks, and how long it took."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from engine.gradcheck import NOISE_SIGMAS, STEP, GradcheckReport

from ..describe import gradcheck_table, gradcheck_verdict
from .modal import ScrollingModal


class GradcheckScreen(ScrollingModal):
    """Shows 'checking…' until the App hands it the report."""

    BOX_TITLE = "Gradient check"
    BINDINGS = [Binding("escape,q,g,enter", "dismiss", "close")]

    def body(self) -> ComposeResult:
        yield Static("checking every tensor against central finite differences in float64…", id="gradcheck-body")

    def show(self, report: GradcheckReport, step: int) -> None:
        summary = Text.assemble(
            gradcheck_verdict(report),
            f"  ·  the model at step {step:,}\n",
            ("error = max |analytic - numeric| / max(tensor scale, noise / tolerance)\n", "dim"),
            (
                f"h = {STEP:g}·max(1,|x|) in float64; noise = {NOISE_SIGMAS:g}·σ/h, σ the loss's measured rounding",
                "dim",
            ),
        )
        body = Table.grid()
        body.add_row(summary)
        body.add_row(gradcheck_table(report))
        self.query_one("#gradcheck-body", Static).update(body)
