"""PlotextPlot: a widget that draws a plotext 6 figure at its own size.

textual-plotext does not support plotext 6, whose API is a figure object
(`plotext.figure.signal(...)`, `figure.draw(...)`, `figure.build().string()`); this widget
builds the figure in `render` and turns plotext's ANSI output into Rich text.
plotext keeps one global figure, so plots are only ever built on the UI thread.
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
    points: bool = False  # mark each value as well as joining them


class PlotextPlot(Widget):
    """Line plots drawn with plotext, resized to the widget; log_y for losses."""

    DEFAULT_CSS = "PlotextPlot { height: 1fr; min-height: 4; }"

    lines: reactive[tuple[Line, ...]] = reactive(tuple, always_update=True)

    def __init__(self, log_y: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log_y = log_y
        self._drawn: tuple = (None, None, None)  # (lines, size, text): a repaint of the same plot is free

    def render(self) -> Text:
        lines, size, text = self._drawn
        if lines is not self.lines or size != self.size:
            text = self.figure()
            self._drawn = (self.lines, self.size, text)
        return text

    def figure(self) -> Text:
        width, height = self.size
        drawable = [line for line in self.lines if len(line.x) > 0]
        if width < 12 or height < 4 or not drawable:
            return Text("no data yet", style="dim", justify="center")
        try:
            return Text.from_ansi(build_figure(drawable, width, height, self.log_y), no_wrap=True)
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


def build_figure(lines: Sequence[Line], width: int, height: int, log_y: bool = False) -> str:
    """plotext's ANSI text for `lines` (each with a point at least) at width x height cells;
    x is whole numbers (steps)."""
    fig = plotext.figure
    fig.clear.all()
    fig.theme("simple")
    fig.legend(False)
    fig.plot_size(width, height)
    ys = [[math.log10(max(v, LOG_FLOOR)) for v in line.y] if log_y else list(line.y) for line in lines]
    for line, y in zip(lines, ys):
        signal = fig.signal(list(line.x), y, marker=plotext.marker("braille", plotext.pixel(line.color)))
        signal.lines()
        fig.draw(signal)
        if line.points:  # a dot on each value, so that one or two of them can be seen
            fig.draw(fig.signal(list(line.x), y, marker=plotext.marker("•", plotext.pixel(line.color))))
    x_ticks = nice_ticks(max(max(line.x) for line in lines), count=max(2, width // 12))
    fig.ruler("x").ticks(x_ticks, [f"{t:,}" for t in x_ticks])
    if log_y:  # log10 of the data on a linear axis, labelled with the values themselves
        low, high = min(min(y) for y in ys), max(max(y) for y in ys)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        fig.ruler("y").lim(low, high)
        ticks = log_ticks(low, high, max(height // 3, 2))
        fig.ruler("y").ticks(ticks, [f"{10**t:.3g}" for t in ticks])
    return fig.build().string()
