"""PlotextPlot: a widget that draws a plotext 6 figure at its own size, and build_figure,
the figure as ANSI text (the lab draws it in the widget; `tfnp-tui compare` prints it).

textual-plotext does not support plotext 6, whose API is a figure object
(`plotext.figure.signal(...)`, `figure.draw(...)`, `figure.build().string()`); this widget
builds the figure in `render` and turns plotext's ANSI output into Rich text.
plotext keeps one global figure, so plots are only ever built on the UI thread.

A Chart is what one figure shows: lines (each a colour, joined and/or dotted), marks (a
dotted vertical line with a label at its top: where the learning rate changed) and whether
the y axis is logarithmic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotext
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

LOG_FLOOR = 1e-6  # a loss of exactly 0 still has a place on a log axis


@dataclass(frozen=True, eq=False)
class Line:
    """One curve: x and y values and a 256-colour code."""

    x: Sequence[float]
    y: Sequence[float]
    color: int
    points: bool = False  # mark each value with a dot
    joined: bool = True  # join the values with a line
    glyph: str | None = None  # draw with this character, not braille and dots (a chart without colour)


MARK_COLOR = 244  # grey: a mark is not a curve


@dataclass(frozen=True)
class Mark:
    """A dotted vertical line at x, with a short label at its top."""

    x: float
    label: str
    color: int = MARK_COLOR


@dataclass(frozen=True, eq=False)
class Chart:
    """What one figure shows."""

    lines: tuple[Line, ...] = ()
    marks: tuple[Mark, ...] = ()
    log_y: bool = True
    x_from: float | None = None  # where the x axis starts (None: at 0, or the first value)

    @property
    def drawable(self) -> list[Line]:
        return [line for line in self.lines if len(line.x) > 0]


class PlotextPlot(Widget):
    """A Chart drawn with plotext, resized to the widget."""

    DEFAULT_CSS = "PlotextPlot { height: 1fr; min-height: 4; }"

    chart: reactive[Chart] = reactive(Chart, always_update=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._drawn: tuple = (None, None, None)  # (chart, size, text): a repaint of the same plot is free

    def render(self) -> Text:
        chart, size, text = self._drawn
        if chart is not self.chart or size != self.size:
            text = self.figure()
            self._drawn = (self.chart, self.size, text)
        return text

    def figure(self) -> Text:
        width, height = self.size
        if width < 12 or height < 4 or not self.chart.drawable:
            return Text("no data yet", style="dim", justify="center")
        try:
            return Text.from_ansi(build_figure(self.chart, width, height), no_wrap=True)
        except Exception as err:  # a plotting library's bug must not take the lab down
            return Text(f"the plot could not be drawn ({type(err).__name__}: {err})", style="dim")


def nice_ticks(high: float, count: int = 5) -> list[int]:
    """Whole-number ticks 0, s, 2s, ... up to high, with s a 1, 2 or 5 times a power of ten."""
    raw = max(high / count, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [int(step * i) for i in range(int(high // step) + 1)]


def log_ticks(low: float, high: float, most: int) -> list[float]:
    """Tick positions for log10 values: whole decades (1, 0.1, 0.01), with 2s and 5s between
    them when there is room; evenly spaced values when less than two fit."""
    decades = list(range(math.ceil(low), math.floor(high) + 1))
    fine = [e + math.log10(m) for e in range(math.floor(low), math.ceil(high) + 1) for m in (1, 2, 5)]
    fine = [t for t in fine if low <= t <= high]
    if 2 <= len(fine) <= most:
        return fine
    if len(decades) >= 2:
        return decades[:: math.ceil(len(decades) / most)]
    return [low + (high - low) * i / most for i in range(most + 1)]


def linear_ticks(low: float, high: float, most: int) -> list[float]:
    """At most `most` + 1 round values (multiples of 1, 2 or 5 times a power of ten) in [low, high]."""
    raw = (high - low) / max(most, 1)
    power = 10 ** math.floor(math.log10(raw))
    steps = [m * power for m in (10, 5, 2, 1, 0.5, 0.2, 0.1)]
    ticks: list[float] = []
    for step in steps[next(i for i, s in enumerate(steps) if s < raw) - 1 :]:  # the smallest step >= raw first
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        ticks = [t * step for t in range(first, last + 1)]
        if len(ticks) >= 2:  # two at least: a smaller step until they fit
            break
    return ticks


def y_values(chart: Chart, line: Line) -> list[float]:
    """What plotext plots of a line: log10 of the values on a log axis."""
    return [math.log10(max(v, LOG_FLOOR)) for v in line.y] if chart.log_y else [float(v) for v in line.y]


def build_figure(chart: Chart, width: int, height: int) -> str:
    """plotext's ANSI text for `chart` (at least one line with a point) at width x height
    cells; x is whole numbers (steps or epochs)."""
    fig = plotext.figure
    fig.clear.all()
    fig.theme("simple")
    fig.legend(False)
    fig.plot_size(width, height)
    lines = chart.drawable
    ys = [y_values(chart, line) for line in lines]
    finite = [v for y in ys for v in y if math.isfinite(v)] or [0.0]
    low, high = min(finite), max(finite)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    x_low = min(min(line.x) for line in lines) if chart.x_from is None else chart.x_from
    x_high = max(max(line.x) for line in lines)
    marks = [mark for mark in sorted(chart.marks, key=lambda m: m.x) if mark.x <= x_high]
    x_low = min([x_low, *(mark.x for mark in marks)])  # a mark before the first value widens the axis to it
    for mark in marks:  # first: the curves go over the dotted lines (and the labels over the curves)
        line = fig.signal([mark.x, mark.x], [low, high], marker=plotext.marker("┊", plotext.pixel(mark.color)))
        line.lines()
        fig.draw(line)
    for line, y in zip(lines, ys):
        if line.joined:
            marker = plotext.marker(line.glyph or "braille", plotext.pixel(line.color))
            signal = fig.signal(list(line.x), y, marker=marker)
            signal.lines()
            fig.draw(signal)
        if line.points:  # a dot on each value, so that one or two of them can be seen
            fig.draw(fig.signal(list(line.x), y, marker=plotext.marker(line.glyph or "•", plotext.pixel(line.color))))
    label_marks(fig, marks, (x_low, x_high), high, width - 8)
    x_ticks = nice_ticks(x_high, count=max(2, width // 12))
    if chart.x_from is not None:
        x_ticks = [t for t in x_ticks if t >= x_low] or [x_low]
        fig.ruler("x").lim(x_low - 0.5, x_high + 0.5) if x_high - x_low < 1 else fig.ruler("x").lim(x_low, x_high)
    fig.ruler("x").ticks(x_ticks, [f"{t:,}" for t in x_ticks])
    fig.ruler("y").lim(low, high)
    if chart.log_y:  # log10 of the data on a linear axis, labelled with the values themselves
        ticks = log_ticks(low, high, max(height // 3, 2))
        fig.ruler("y").ticks(ticks, [f"{10**t:.3g}" for t in ticks])
    else:
        ticks = linear_ticks(low, high, max(height // 3, 2))
        fig.ruler("y").ticks(ticks, [f"{t:.3g}" for t in ticks])
    return fig.build().string()


def label_marks(fig, marks: Sequence[Mark], x_range: tuple[float, float], top: float, columns: int) -> None:
    """Each mark's label at the top of the plot, where it does not run into the one before it
    (a label ends at its mark in the right half of the plot, starts there in the left)."""
    (x_low, x_high), taken = x_range, -math.inf  # the column where the last label ended
    for mark in marks:
        column = (mark.x - x_low) / max(x_high - x_low, 1e-9) * columns
        right = column > columns / 2
        start = column - len(mark.label) if right else column
        if start > taken + 1 and start >= 0:
            label = plotext.marker(plotext.colorize(mark.label, plotext.pixel(mark.color)), ha=1 if right else -1)
            fig.draw(fig.signal([mark.x], [top], marker=label))
            taken = start + len(mark.label)
