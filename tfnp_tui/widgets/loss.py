"""The Loss panel: training and validation loss as a plotext line plot, a sparkline of
the last few hundred steps, and accuracy beside it.

Alone, the run is drawn against its steps: the training loss of every step (averaged per
plot column) and the validation loss at each epoch's end. With --compare, every run is
drawn against the epoch, the one unit all runs share: this run's training loss per epoch
beside the compared runs', each in a colour of its own, named in a legend. After --load
with the run's own --metrics-out, the epochs before the checkpoint come from that file.

m smooths the training curves (an exponential moving average, the raw curve faint behind
it: widgets/curves.py) and y turns the log axis linear; the title says which is on. A
dotted vertical line marks where the learning rate was changed (the lab's keys), live,
under replay and in the compared runs' records. A change made while training is placed at
the first step of the report that shows it (within one screen update: about 0.1 s of
training); one made while paused is placed exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..messages import Progress
from ..runs import LrChange, Overlays, lr_change, short_labels
from ..view import Frame
from .curves import STEP_BETA, EpochCurves, bucket_means, color_of, ema, epoch_chart
from .glyphs import sparkline
from .panel import Panel
from .plot import Chart, Line, Mark, PlotextPlot

TRAIN_COLOR, TRAIN_FAINT = color_of(0)  # blue
VAL_COLOR = 208  # orange (the run alone)
SPARK_STEPS = 300  # the sparkline covers at most this many recent steps
MIN_PLOT_ROWS = 7  # the legend of compared runs leaves the plot this many rows (4 of them for the curves)


class EpochPoint(NamedTuple):
    """What the panel draws of a finished epoch (not the whole report: its probe is large)."""

    epoch: int
    step: int
    val_loss: float
    acc: float
    val_acc: float
    loss: float = float("nan")
    lr_scale: float = 1.0


class LossPanel(Panel, Vertical):
    """Loss over steps (train, averaged per plot column) and epochs (validation); over
    epochs for every run when runs are compared."""

    TITLE = "Loss"
    DEFAULT_CSS = """
    LossPanel #loss-summary { height: 1; }
    LossPanel #loss-legend { height: auto; display: none; }
    """

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.overlays: Overlays = lab.overlays
        self.compared = [EpochCurves.of(run) for run in self.overlays.compared]
        self._losses = np.empty(1024)  # every training step's loss, in a buffer that doubles
        self._count = 0
        self._ema = np.empty(0)  # the moving average of _losses[:len(_ema)], extended when drawn
        self.start_step = self.overlays.start_step  # the steps done before _losses[0] (a checkpoint's)
        self.epochs: list[EpochPoint] = []
        self.changes: list[LrChange] = []  # where this run's learning rate changed, in order
        self._seen: tuple[int | None, float] = (None, self.overlays.lr_scale)  # the last (step, lr_scale) seen
        self.earlier = self.overlays.earlier
        self.until_epoch: int | None = None  # replay: show the run as it was at this epoch
        self.smooth = False
        self.log_y = True
        self._legend = ""  # the legend's text: laid out again only when it changes

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="loss-plot")
        yield Static(id="loss-legend")
        yield Static(id="loss-summary")

    def on_mount(self) -> None:
        self.query_one("#loss-legend").display = bool(self.compared)
        self.set_title()

    # ---------------------------------------------------------------------------- data
    def feed(self, progress: Progress) -> None:
        """New steps and finished epochs from the trainer (drawn at the next redraw)."""
        losses, epochs = progress.losses, progress.epochs
        if not self._count and len(losses):
            self.start_step = progress.step.step - len(losses)
        if self._count + len(losses) > len(self._losses):
            grown = np.empty(max(2 * len(self._losses), self._count + len(losses)))
            grown[: self._count] = self._losses[: self._count]
            self._losses = grown
        self._losses[self._count : self._count + len(losses)] = losses
        self._count += len(losses)
        self.epochs.extend(EpochPoint(e.epoch, e.step, e.val_loss, e.acc, e.val_acc, e.loss, e.lr_scale)
                           for e in epochs)  # fmt: skip
        for step, scale in [*((e.step, e.lr_scale) for e in epochs), (progress.step.step, progress.step.lr_scale)]:
            self.observe(step, scale)

    def observe(self, step: int, scale: float) -> None:
        """The learning rate's factor at `step`: a change since the step seen before it is
        placed at the step after that one (the first that can have used it)."""
        seen_step, seen_scale = self._seen
        if seen_step is None:
            seen_step = self.start_step
        change = lr_change((seen_step, seen_step / self.overlays.steps_per_epoch, seen_scale), scale)
        self.changes += [change] if change else []
        self._seen = (step, scale)

    def clear(self) -> None:
        super().clear()
        self._count, self._ema, self.start_step = 0, np.empty(0), 0
        self.epochs, self.changes = [], []
        self._seen = (None, 1.0)  # a fresh model starts at the schedule's own rate
        self.earlier = None  # a new run: the epochs before --load are not its own
        self.until_epoch = None
        self.redraw()

    def depends_on(self, frame: Frame) -> tuple:
        view = frame.view  # a new step or another epoch (the curves are fed apart), or a toggle
        return (frame.step, frame.epoch, view.smooth_loss, view.linear_loss)

    def draw(self, frame: Frame) -> None:
        """Live, or the run as it stood at the end of the replayed epoch."""
        view = frame.view
        self.until_epoch = view.epoch
        self.smooth, self.log_y = view.smooth_loss, not view.linear_loss
        self.set_title()
        self.redraw()

    def set_title(self) -> None:
        states = ["smoothed"] if self.smooth else []
        states += ["linear"] if not self.log_y else []
        self.border_title = " · ".join([self.TITLE + (" per epoch" if self.compared else ""), *states])

    # ------------------------------------------------------------------------- drawing
    def shown(self) -> tuple[np.ndarray, list[EpochPoint]]:
        """This run's step losses and epochs up to the replayed epoch (all of them live)."""
        epochs = [e for e in self.epochs if self.until_epoch is None or e.epoch <= self.until_epoch]
        steps = self._losses[: self._count]  # a view: the plot keeps only bucket_means' own arrays
        if self.until_epoch is not None and epochs:
            steps = steps[: epochs[-1].step - self.start_step]
        return steps, epochs

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        steps, epochs = self.shown()
        plot = self.query_one(PlotextPlot)
        plot.chart = self.epoch_chart(epochs) if self.compared else self.step_chart(steps, epochs, plot.size.width)
        if self.compared:
            legend = self.legend()
            self.query_one("#loss-legend", Static).update(legend, layout=legend.plain != self._legend)
            self._legend = legend.plain
        self.query_one("#loss-summary", Static).update(self.summary(steps, epochs), layout=False)

    def step_chart(self, steps: np.ndarray, epochs: list[EpochPoint], width: int) -> Chart:
        """The run alone, against its steps: the training loss per plot column (smoothed: the
        moving average at each column's last step, over the raw curve drawn faint), the
        validation loss at each epoch's end, the earlier epochs' figures before them."""
        offset = self.start_step
        x, y = bucket_means(steps, max(width - 8, 8))  # about one point per column
        earlier = self.earlier.records if self.earlier else ()
        val = Line([r["step"] for r in earlier] + [e.step for e in epochs],
                   [r["val_loss"] for r in earlier] + [e.val_loss for e in epochs], VAL_COLOR, points=True)  # fmt: skip
        lines = [val]  # validation first, so the training curve is drawn on top where they cross
        if earlier:
            lines.append(Line([r["step"] for r in earlier], [r["loss"] for r in earlier], TRAIN_COLOR))
        if self.smooth and len(steps):
            smoothed = self.ema(len(steps))[x - 1]  # the average at each column's last step
            lines = [Line(x + offset, y, TRAIN_FAINT), *lines, Line(x + offset, smoothed, TRAIN_COLOR)]
        else:
            lines.append(Line(x + offset, y, TRAIN_COLOR))
        last = offset + len(steps)
        marks = [Mark(c.step, c.label) for c in self.changes if c.step <= last]
        if self.earlier:
            marks = [Mark(c.step, c.label) for c in self.earlier.lr_changes()] + marks
            marks.append(Mark(offset, "loaded"))
        return Chart(tuple(lines), tuple(marks), self.log_y)

    def ema(self, n: int) -> np.ndarray:
        """(n,) the moving average of the first n step losses (extending the one kept)."""
        done = len(self._ema)
        if done < n:
            more = ema(self._losses[done:n], STEP_BETA, self._ema[-1] if done else None)
            self._ema = np.concatenate([self._ema, more])
        return self._ema[:n]

    def this_run(self, epochs: list[EpochPoint]) -> EpochCurves:
        """This run per epoch (the epochs before --load first), for the side-by-side chart."""
        earlier = self.earlier.records if self.earlier else ()
        last = epochs[-1].step if epochs and self.until_epoch is not None else None
        changes = (self.earlier.lr_changes() if self.earlier else []) + [
            c for c in self.changes if last is None or c.step <= last
        ]
        return EpochCurves(
            "this run",
            np.array([r["epoch"] for r in earlier] + [e.epoch for e in epochs], dtype=float),
            np.array([r["loss"] for r in earlier] + [e.loss for e in epochs], dtype=float),
            np.array([r["val_loss"] for r in earlier] + [e.val_loss for e in epochs], dtype=float),
            tuple(changes),
        )

    def epoch_chart(self, epochs: list[EpochPoint]) -> Chart:
        runs = [self.this_run(epochs), *self.compared]
        return epoch_chart(runs, [color_of(i) for i in range(len(runs))], self.smooth, self.log_y)

    def on_resize(self) -> None:
        self.redraw()  # one point per column, and the sparkline fills what is left of the line

    # -------------------------------------------------------------------------- legend
    def legend(self) -> Text:
        """'━ this run  ━ adam 1e-3 · L2 H2 C64  ━ sgd …', each in its run's colour, in as many
        lines as the panel can spare (labels shortened alike when they do not fit)."""
        width, rows = max(self.size.width, 10), max(1, self.size.height - 1 - MIN_PLOT_ROWS)
        full = [c.label for c in self.compared]
        for labels in (full, short_labels(full)):
            lines = flow([f"━ {label}" for label in ["this run", *labels]], width)
            if len(lines) <= rows:
                break
        else:  # the short labels cut alike until they fit
            for cut in range(max(map(len, labels)), 3, -1):
                cuts = [label if len(label) <= cut else label[: cut - 1] + "…" for label in labels]
                lines = flow([f"━ {label}" for label in ["this run", *cuts]], width)
                if len(lines) <= rows:
                    break
        text, i = Text(), 0
        for n, line in enumerate(lines):
            if n:
                text.append("\n")
            for k, item in enumerate(line):
                text.append("  " if k else "")
                text.append(item, style=f"color({color_of(i)[0]})")
                i += 1
        return text

    def summary(self, steps: np.ndarray, epochs: list[EpochPoint]) -> Text:
        """'── train ── val  last 300 ▇▆▅▄▃▂▁  acc 97.4%  val 96.8%', fitted to the panel's width."""
        wide = self.size.width >= 50
        line = "── " if wide else "─"
        if self.compared:  # the colours name the runs: the marks name the curves
            legend = Text.assemble(f"{line}train ", "• val", style="dim")
        else:
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


def flow(items: list[str], width: int) -> list[list[str]]:
    """Items laid out left to right in lines of at most `width` cells (two spaces apart)."""
    lines: list[list[str]] = [[]]
    used = 0
    for item in items:
        need = len(item) + (2 if lines[-1] else 0)
        if lines[-1] and used + need > width:
            lines.append([])
            used, need = 0, len(item)
        lines[-1].append(item)
        used += need
    return lines
