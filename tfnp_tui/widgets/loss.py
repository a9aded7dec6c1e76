"""The Loss panel: training and validation loss as a plotext line plot, a sparkline of
the last few hundred steps, and accuracy beside it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..messages import Progress
from ..view import Frame
from .glyphs import sparkline
from .panel import Panel
from .plot import Line, PlotextPlot

TRAIN_COLOR, VAL_COLOR = 39, 208  # blue, orange (256-colour codes)
SPARK_STEPS = 300  # the sparkline covers at most this many recent steps


def bucket_means(values: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): values averaged over at most `buckets` equal runs; x is each run's last step (1-based)."""
    n = len(values)
    if n <= buckets:
        return np.arange(1, n + 1), values.copy()
    edges = np.linspace(0, n, buckets + 1).astype(int)
    sums = np.add.reduceat(values, edges[:-1])
    return edges[1:], sums / np.diff(edges)


class EpochPoint(NamedTuple):
    """What the panel draws of a finished epoch (not the whole report: its probe is large)."""

    epoch: int
    step: int
    val_loss: float
    acc: float
    val_acc: float


class LossPanel(Panel, Vertical):
    """Loss over steps (train, averaged per plot column) and epochs (validation)."""

    TITLE = "Loss"
    DEFAULT_CSS = """
    LossPanel #loss-summary { height: 1; }
    """

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self._losses = np.empty(1024)  # every training step's loss, in a buffer that doubles
        self._count = 0
        self.epochs: list[EpochPoint] = []
        self.until_epoch: int | None = None  # replay: show the run as it was at this epoch

    def compose(self) -> ComposeResult:
        yield PlotextPlot(log_y=True, id="loss-plot")
        yield Static(id="loss-summary")

    def feed(self, progress: Progress) -> None:
        """New steps and finished epochs from the trainer (drawn at the next redraw)."""
        losses, epochs = progress.losses, progress.epochs
        if self._count + len(losses) > len(self._losses):
            grown = np.empty(max(2 * len(self._losses), self._count + len(losses)))
            grown[: self._count] = self._losses[: self._count]
            self._losses = grown
        self._losses[self._count : self._count + len(losses)] = losses
        self._count += len(losses)
        self.epochs.extend(EpochPoint(e.epoch, e.step, e.val_loss, e.acc, e.val_acc) for e in epochs)

    def clear(self) -> None:
        super().clear()
        self._count = 0
        self.epochs = []
        self.until_epoch = None
        self.redraw()

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.step, frame.epoch)  # a new step or another epoch: the curves are fed apart

    def draw(self, frame: Frame) -> None:
        """Live, or the run as it stood at the end of the replayed epoch."""
        self.until_epoch = frame.view.epoch
        self.redraw()

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        epochs = [e for e in self.epochs if self.until_epoch is None or e.epoch <= self.until_epoch]
        steps = self._losses[: self._count]  # a view: the plot keeps only bucket_means' own arrays
        if self.until_epoch is not None and epochs:
            steps = steps[: epochs[-1].step]
        plot = self.query_one(PlotextPlot)
        x, y = bucket_means(steps, max(plot.size.width - 8, 8))  # about one point per column
        plot.lines = (  # validation first, so the training curve is drawn on top where they cross
            Line([e.step for e in epochs], [e.val_loss for e in epochs], VAL_COLOR, points=True),
            Line(x, y, TRAIN_COLOR),
        )
        self.query_one("#loss-summary", Static).update(self.summary(steps, epochs), layout=False)

    def on_resize(self) -> None:
        self.redraw()  # one point per column, and the sparkline fills what is left of the line

    def summary(self, steps: np.ndarray, epochs: list[EpochPoint]) -> Text:
        """'── train ── val  last 300 ▇▆▅▄▃▂▁  acc 97.4%  val 96.8%', fitted to the panel's width."""
        wide = self.size.width >= 50
        line = "── " if wide else "─"
        legend = Text.assemble((f"{line}train ", f"color({TRAIN_COLOR})"), (f"{line}val", f"color({VAL_COLOR})"))
        acc = Text()
        if epochs:
            e = epochs[-1]
            acc = Text(f"acc {100 * e.acc:.1f}%  val {100 * e.val_acc:.1f}%" if wide else
                       f"acc {100 * e.acc:.0f}% val {100 * e.val_acc:.0f}%")  # fmt: skip
        room = self.size.width - legend.cell_len - acc.cell_len - 4
        spark = Text()
        if len(steps) and room >= 8:
            label = f"last {min(len(steps), SPARK_STEPS)} " if room >= 24 else ""
            _, recent = bucket_means(steps[-SPARK_STEPS:], room - len(label))
            spark.append(label, style="dim")
            spark.append(sparkline(recent.tolist(), room - len(label)), style=f"color({TRAIN_COLOR})")
        return Text("  ").join(part for part in (legend, spark, acc) if part.cell_len)
