"""--gradcheck: the gradient check from the command line, for whoever changes a backward pass.

Builds the model the flags (or --load) describe, compares every parameter tensor's analytic
gradient and the input embeddings' with central finite differences in float64 on two
training sequences, prints one row per tensor and exits 0 if every tensor passes, 1 if any
fails. Small models are checked in every entry, larger ones in a sample of each tensor.
The measure (engine/gradcheck.py) allows for the finite differences' own rounding noise, so
a trained model at a tiny loss is judged as soundly as a fresh one; a tensor whose gradient
is zero up to rounding is shown as zero, and entries at a ReLU kink are counted, not compared.

--inject BUG plants one classic backprop bug (engine/bugs.py) for the check only: the output
names it before the table and says after it which tensors it breaks, or that it broke none
on this model. The exit status is the check's: 1 when the bug is caught. --inject list
names the bugs. With --dropout P the check is of the training-time gradient: one fixed set
of dropout masks in every evaluation, and the output says so.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from engine.bugs import BUGS, effect, planted
from engine.gradcheck import check_model

from .describe import describe, gradcheck_table, gradcheck_verdict
from .setup import Setup

EVERY_ENTRY_UP_TO = 20_000  # parameters: a model this small is checked in every entry
SAMPLE = 64  # entries checked per tensor in a larger model


def list_bugs() -> int:
    """--inject list: each bug's name and what is wrong, a line each; exit status 0."""
    width = max(map(len, BUGS))
    for name, bug in BUGS.items():
        print(f"{name:{width}}  {bug.line}")
    return 0


def run_gradcheck(setup: Setup, bug: str | None = None) -> int:
    """Check the model, with `bug` (a name in engine.bugs.BUGS) planted if given; 0 if every
    tensor passes, 1 if any fails."""
    trainer = setup.trainer
    console = Console(highlight=False, soft_wrap=True)
    console.print(describe(trainer))
    every = trainer.model.num_params <= EVERY_ENTRY_UP_TO
    entries = "every entry" if every else f"{SAMPLE} entries a tensor"
    dropout = trainer.train_cfg.dropout
    fixed = f", with dropout {dropout:g}: one fixed mask" if dropout else ""
    console.print(f"checking {entries} against central finite differences in float64, on 2 training sequences{fixed}…")
    if bug is not None:
        console.print(Text.assemble(("planted bug: ", "bold"), (bug, "bold red"), f": {BUGS[bug].line}"))
    tokens, targets = trainer.task.train_tokens[:2], trainer.task.train_targets[:2]
    with planted(bug):
        report = check_model(trainer.model, tokens, targets, max_entries=None if every else SAMPLE, dropout=dropout)
    console.print(gradcheck_table(report))
    console.print(gradcheck_verdict(report))
    if bug is not None:
        console.print(effect(bug, report), style="bold red" if report.failed else "bold yellow")
    return 0 if report.passed else 1
