"""The loss curves as Charts (widgets/plot.py), shared by the lab's Loss panel and `tfnp-tui
compare`: the runs' colours, the exponential moving average that smooths a training curve,
the average of many steps per plot column, and the per-epoch chart of several runs side by
side (the x axis is the epoch: runs of other batch sizes or data sizes line up there).

Smoothing: ema(x)_1 = x_1, ema(x)_t = beta * ema(x)_(t-1) + (1 - beta) * x_t, with beta
STEP_BETA over the steps of a run and EPOCH_BETA over its epochs; the raw curve is drawn
faint behind the smoothed one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..runs import LrChange, Run
from .plot import Chart, Line, Mark

# (bright, faint) 256-colour codes: blue, orange, green, violet, gold, red, cyan. The first
# is this run's (its training curve: the lab's validation curve is orange when alone).
COLORS = ((39, 24), (208, 130), (41, 29), (171, 90), (220, 136), (203, 124), (51, 30))
STEP_BETA = 0.98  # about the last 50 steps
EPOCH_BETA = 0.6  # about the last 2 or 3 epochs


def color_of(i: int) -> tuple[int, int]:
    """The (bright, faint) colours of the i-th run (0: this one), cycling past the last."""
    return COLORS[i % len(COLORS)]


def ema(values: Sequence[float], beta: float, start: float | None = None) -> np.ndarray:
    """(n,) the exponential moving average of `values`; `start`: the average just before
    them (None: the first value starts it)."""
    out = np.empty(len(values))
    e = start
    for i, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        e = v if e is None else beta * e + (1 - beta) * v
        out[i] = e
    return out


def bucket_means(values: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): values averaged over at most `buckets` equal runs; x is each run's last step (1-based)."""
    n = len(values)
    if n <= buckets:
        return np.arange(1, n + 1), np.asarray(values, dtype=np.float64).copy()
    edges = np.linspace(0, n, buckets + 1).astype(int)
    sums = np.add.reduceat(values, edges[:-1])
    return edges[1:], sums / np.diff(edges)


@dataclass(frozen=True, eq=False)
class EpochCurves:
    """One run's figures per epoch, and where its learning rate was changed."""

    label: str
    epochs: np.ndarray  # (E,) 1-based
    train: np.ndarray  # (E,) training loss over each epoch
    val: np.ndarray  # (E,) validation loss at each epoch's end
    changes: tuple[LrChange, ...] = ()

    @classmethod
    def of(cls, run: Run) -> EpochCurves:
        return cls(run.label, run.epochs, run.column("loss"), run.column("val_loss"), tuple(run.lr_changes()))


def epoch_lines(curves: EpochCurves, color: tuple[int, int], smooth: bool, glyph: str | None = None) -> list[Line]:
    """A run's training curve (a line; smoothed: the raw one faint behind the average) and
    its validation curve (a dot at each epoch), in its colour; with `glyph`, both drawn with
    that character, which tells the run apart where there is no colour."""
    bright, faint = color
    x = curves.epochs
    lines = [Line(x, curves.val, bright, points=True, joined=False, glyph=glyph)]
    if smooth:
        smoothed = ema(curves.train, EPOCH_BETA)
        lines += [Line(x, curves.train, faint, glyph=glyph), Line(x, smoothed, bright, glyph=glyph)]
    else:
        lines.append(Line(x, curves.train, bright, glyph=glyph))
    return lines


def epoch_chart(runs: Sequence[EpochCurves], colors: Sequence[tuple[int, int]], smooth: bool = False,
                log_y: bool = True, glyphs: Sequence[str] | None = None) -> Chart:  # fmt: skip
    """Every run's curves against the epoch: the faint raw curves first, so that every bright
    curve is drawn over them, and the first run last, over the others (the lab's own run); a
    mark where a run's learning rate changed, in its colour. The axis starts at epoch 1, or
    at 0 when a rate changed during epoch 1 (its mark is placed at the epochs done before it).
    glyphs: a character per run, for a chart printed without colour."""
    marked = list(glyphs or [None] * len(runs))
    lines = [line for run, color, glyph in zip(runs[::-1], colors[::-1], marked[::-1])
             for line in epoch_lines(run, color, smooth, glyph)]  # fmt: skip
    faint = {color[1] for color in colors}
    lines.sort(key=lambda line: line.color not in faint)  # stable: the runs' order otherwise
    marks = tuple(Mark(c.epoch, c.label, color[0]) for run, color in zip(runs, colors) for c in run.changes)
    first = min((float(run.epochs[0]) for run in runs if len(run.epochs)), default=1.0)
    return Chart(tuple(lines), marks, log_y, x_from=float(min([first, 1.0, *(math.floor(m.x) for m in marks)])))
