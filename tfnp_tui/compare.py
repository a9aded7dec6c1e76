"""`tfnp-tui compare A.jsonl B.jsonl ...`: runs side by side in the terminal, from their
--metrics-out files. One chart (each run's training loss per epoch as a line, its
validation loss as dots, in a colour of its own, on a log axis; the same chart as the lab's
Loss panel with --compare) sized to the terminal, a legend naming each run, and one table
with a column per run: best validation loss and accuracy and the epoch of each, the final
figures, and steps per second.

One file is enough (a run's own summary). Bad input (no file, a missing or non-metrics
file, an unknown flag) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .flags import Parser, UsageError
from .numbers import loss_text, plural
from .runs import Run, RunsError, read_runs
from .setup import PROG
from .widgets.curves import EpochCurves, color_of, epoch_chart
from .widgets.plot import build_figure

NAME = f"{PROG} compare"
PLAIN_GLYPHS = "ABCDEFGH"  # without colour (a pipe, NO_COLOR), each run is drawn with its letter


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=NAME,
        description="Compare runs from their --metrics-out files: one chart of every run's training and "
        "validation loss per epoch, and a table of each run's best and final figures.",
        epilog="In the lab, --compare FILE (repeatable) draws the same curves beside the run being trained.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="a metrics file written with --metrics-out")
    p.add_argument("--no-chart", action="store_true", help="print the table only")
    p.add_argument("--linear", action="store_true", help="a linear loss axis (default: logarithmic)")
    return p


def run_compare(argv: list[str]) -> int:
    """The compare command; its exit status."""
    try:
        args = build_parser().parse_args(argv)
        if not args.files:
            raise UsageError("give the metrics files to compare (written with --metrics-out)")
        runs = read_runs(args.files)
    except SystemExit as done:  # --help
        return int(done.code or 0)
    except (UsageError, RunsError) as err:
        print(f"{NAME}: error: {err}", file=sys.stderr)
        return 2
    console = Console(highlight=False)
    if not args.no_chart:
        print_chart(console, runs, log_y=not args.linear)
    console.print(table(runs))
    return 0


def chart_height(console: Console, runs: list[Run]) -> int:
    """Rows for the chart: what the terminal has left beside the legend and the table, 10 to 24."""
    rows = shutil.get_terminal_size(fallback=(console.width, 40)).lines
    return max(10, min(24, rows - len(runs) - len(ROWS) - 8))


def print_chart(console: Console, runs: list[Run], log_y: bool = True) -> None:
    """The chart, with a title above and a legend below."""
    colors = [color_of(i) for i in range(len(runs))]
    glyphs = None if console.color_system else [PLAIN_GLYPHS[i % len(PLAIN_GLYPHS)] for i in range(len(runs))]
    chart = epoch_chart([EpochCurves.of(run) for run in runs], colors, log_y=log_y, glyphs=glyphs)
    axis = "log scale" if log_y else "linear scale"
    how = "each run in its letter, training and validation" if glyphs else "training —, validation •"
    console.print(Text(f"loss per epoch ({axis}): {how}, ┊ learning rate changed", style="bold"))
    console.print(Text.from_ansi(build_figure(chart, console.width, chart_height(console, runs)), no_wrap=True))
    for i, (run, (bright, _)) in enumerate(zip(runs, colors)):
        key = f"{glyphs[i]}  " if glyphs else "━━ "
        console.print(Text.assemble((key, f"color({bright})"), (run.label, f"color({bright})"), f"  {run.path}"))


def best_text(run: Run, key: str, lowest: bool, percent: bool = False) -> str:
    value, epoch = run.best(key, lowest)
    if math.isnan(value):
        return "-"
    shown = f"{100 * value:.1f}%" if percent else loss_text(value)
    return f"{shown} at epoch {epoch}"


# the table's rows: (name, what it says of a run)
ROWS = (
    ("epochs", lambda r: f"{r.records[-1]['epoch']} ({plural(r.records[-1]['step'], 'step')})"),
    ("best val loss", lambda r: best_text(r, "val_loss", lowest=True)),
    ("best val acc", lambda r: best_text(r, "val_acc", lowest=False, percent=True)),
    ("final loss", lambda r: f"{loss_text(r.records[-1]['loss'])} / val {loss_text(r.records[-1]['val_loss'])}"),
    ("final acc", lambda r: f"{100 * r.records[-1]['acc']:.1f}% / val {100 * r.records[-1]['val_acc']:.1f}%"),
    ("steps/s", lambda r: "-" if math.isnan(r.steps_per_second) else f"{r.steps_per_second:,.1f}"),
    ("lr changed", lambda r: ", ".join(f"{c.label} in epoch {c.epoch + 1:g}" for c in r.lr_changes()) or "-"),
)


def table(runs: list[Run]) -> Table:
    """One column per run, in its colour; one row per figure."""
    t = Table(show_edge=False, header_style="bold", pad_edge=False)
    t.add_column("", style="dim", no_wrap=True)
    for i, run in enumerate(runs):
        t.add_column(Text(run.label, style=f"bold color({color_of(i)[0]})"))
    for name, figure in ROWS:
        t.add_row(name, *(figure(run) for run in runs))
    return t
