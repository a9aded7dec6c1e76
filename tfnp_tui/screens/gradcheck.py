"""The gradient check's result: one row per tensor, max relative error against central
finite differences, analytic and numeric norms, pass, fail or zero (a gradient under the
finite differences' noise floor), entries at ReLU kinks, and how long it took.

b / B plant the next / previous classic backprop bug of engine/bugs.py (cycling through
"no bug" and each bug) and check again, so the box shows what each bug breaks. The box
runs one check at a time: a choice made while a check runs is checked when it lands. A run
with dropout is checked with one fixed set of dropout masks, and the box says so."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from engine.bugs import BUGS, effect
from engine.gradcheck import NOISE_SIGMAS, STEP, GradcheckReport

from ..describe import gradcheck_table, gradcheck_verdict
from .modal import ScrollingModal

CHOICES: tuple[str | None, ...] = (None, *BUGS)  # what b and B cycle through: no bug, then each bug


class GradcheckScreen(ScrollingModal):
    """Shows 'checking…' until the App hands it the report; b / B choose a bug and check again.
    The App starts the first check (with no bug) as it opens the box."""

    BOX_TITLE = "Gradient check"
    BINDINGS = [
        Binding("escape,q,g,enter", "dismiss", "close"),
        Binding("b", "bug(1)", "next bug"),
        Binding("B", "bug(-1)", "previous bug"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.choice = 0  # index in CHOICES of the bug to check with
        self.checking: str | None = None  # the bug of the check under way or last landed
        self.waiting = True  # a check is under way

    @property
    def bug(self) -> str | None:
        """The chosen bug's name, None for none."""
        return CHOICES[self.choice]

    def body(self) -> ComposeResult:
        yield Static(self.bug_line(), id="gradcheck-bug")
        yield Static(self.checking_line(), id="gradcheck-body")

    def bug_line(self) -> Text:
        """Which bug is planted, and the keys that change it."""
        keys = ("b / B: plant the next / previous classic backprop bug and check again", "dim")
        if self.bug is None:
            return Text.assemble("no bug planted  ·  ", keys)
        return Text.assemble(
            ("planted bug: ", "bold"), (self.bug, "bold red"), f" ({self.choice} of {len(BUGS)})",
            f": {BUGS[self.bug].line}\n", keys,
        )  # fmt: skip

    def checking_line(self) -> str:
        planted = f" with {self.bug} planted" if self.bug else ""
        dropout = self.app.session.trainer.train_cfg.dropout
        fixed = f", with dropout {dropout:g}: one fixed mask" if dropout else ""
        return f"checking every tensor against central finite differences in float64{planted}{fixed}…"

    def action_bug(self, delta: int) -> None:
        self.choice = (self.choice + delta) % len(CHOICES)
        self.query_one("#gradcheck-bug", Static).update(self.bug_line())
        self.query_one("#gradcheck-body", Static).update(self.checking_line())
        if not self.waiting:
            self.check()

    def check(self) -> None:
        """Check the model with the chosen bug planted (the session pauses training first)."""
        self.checking, self.waiting = self.bug, True
        self.app.session.gradcheck(self.bug)

    def show(self, report: GradcheckReport, step: int, bug: str | None = None) -> None:
        """The report of a check with `bug` planted (one this box did not ask for is left out:
        a box closed during its check and opened again gets its own)."""
        if bug != self.checking:
            return
        self.waiting = False
        if self.checking != self.bug:  # another bug was chosen while this check ran
            self.check()
            return
        summary = Text.assemble(gradcheck_verdict(report), f"  ·  the model at step {step:,}\n")
        if report.conditions:
            summary.append(report.conditions + "\n", "bold")
        if self.bug is not None:
            summary.append(effect(self.bug, report) + "\n", "bold red" if report.failed else "bold yellow")
        summary.append_text(
            Text.assemble(
                ("error = max |analytic - numeric| / max(tensor scale, noise / tolerance)\n", "dim"),
                (
                    f"h = {STEP:g}·max(1,|x|) in float64; noise = {NOISE_SIGMAS:g}·σ/h, σ the loss's measured rounding",
                    "dim",
                ),
            )
        )
        body = Table.grid()
        body.add_row(summary)
        body.add_row(gradcheck_table(report))
        self.query_one("#gradcheck-body", Static).update(body)
