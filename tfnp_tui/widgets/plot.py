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
    """One curve: x and y values, a label and a 256-colour code."""

    x: Sequence[float]
    y: Sequence[float]
    label: str
    color: int


class PlotextPlot(Widget):
    """Line plots drawn with plotext, resized to the widget; log_y for losses."""

    DEFAULT_CSS = "PlotextPlot { height: 1fr; min-height: 4; }"

    lines: reactive[tuple[Line, ...]] = reactive(tuple, always_update=True)

    def __init__(self, log_y: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log_y = log_y

    def render(self) -> Text:
        width, height = self.size
        drawable = [line for line in self.lines if len(line.x) > 0]
        if width < 12 or height < 4 or not drawable:
            return Text("no data yet", style="dim", justify="center")
        return Text.from_ansi(build_figure(drawable, width, height, self.log_y), no_wrap=True)


def nice_ticks(high: float, count: int = 5) -> list[int]:
    """Whole-number ticks 0, s, 2s, ... up to high, with s a 1, 2 or 5 times a power of ten."""
    raw = max(high / count, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [int(step * i) for i in range(int(high // step) + 1)]


def build_figure(lines: Sequence[Line], width: int, height: int, log_y: bool = False) -> str:
    """plotext's ANSI text for `lines` at width x height cells; x is whole numbers (steps)."""
    fig = plotext.figure
    fig.clear.all()
    fig.theme("simple")
    fig.legend(False)
    fig.plot_size(width, height)
    for line in lines:
        y = [max(v, LOG_FLOOR) for v in line.y] if log_y else list(line.y)
        signal = fig.signal(list(line.x), y, marker=plotext.marker("braille", plotext.pixel(line.color)))
        signal.lines()
        fig.draw(signal)
    fig.ruler("x").ticks(nice_ticks(max(max(line.x) for line in lines), count=max(2, width // 12)))
    if log_y:
        fig.ruler("y").scale("log")
    return fig.build().string()
