"""The Attention panel: the probe sample's attention weights for one layer and head as a
heatmap, rows the querying positions and columns the positions they look at, each
labelled with its token; or all heads of a layer side by side."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult

from engine.training.reports import ProbeReport

from ..view import Frame, View
from .glyphs import probability, shade
from .panel import Panel, PanelScroll, TextBlock

LOW, HIGH = (48, 52, 70), (255, 205, 60)  # colour of weight 0 and weight 1


def weight_styles(weights: np.ndarray) -> list:
    """For each weight a colour between LOW and HIGH (the shade character carries the same
    scale without colour), as nested lists of Styles in the shape of `weights`."""
    levels = np.where(np.isfinite(weights), np.rint(np.clip(weights, 0.0, 1.0) * 32), 32).astype(int)
    return np.vectorize(_style, otypes=[object])(levels).tolist()


@lru_cache(maxsize=33)
def _style(level: int) -> Style:
    """The style of weight level/32 (33 levels, made once each)."""
    w = level / 32
    rgb = tuple(int(lo + (hi - lo) * w**0.7) for lo, hi in zip(LOW, HIGH))
    return Style(color=Color.from_rgb(*rgb), bold=w > 0.5)


def cell(weight: float, width: int, values: bool) -> str:
    """One heatmap cell `width` characters wide: shade blocks, or the weight as .97."""
    if values:
        return probability(weight).rjust(width)
    mark = shade(weight)
    return (mark * max(width - 1, 1) if mark != " " else "·".center(max(width - 1, 1))).ljust(width)


class AttentionPanel(Panel, PanelScroll):
    """Heatmap of attention weights for the layer, head and view the Frame names; every row
    is drawn, and the panel scrolls (Tab to it, then ↑/↓) when they do not all fit."""

    TITLE = "Attention"
    DEFAULT_CSS = "AttentionPanel { height: 1fr; scrollbar-size-vertical: 1; }"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.label = lab.label
        self.n_layers, self.n_heads = lab.n_layers, lab.n_heads
        # the last layer first: where routing tasks show their pattern
        self.view = View(layer=lab.n_layers - 1)
        self.probe: ProbeReport | None = None

    def compose(self) -> ComposeResult:
        yield TextBlock(self.maps(), id="heatmap")

    @property
    def layer_index(self) -> int:
        return self.view.layer

    @property
    def head_index(self) -> int:
        return self.view.head

    def where(self) -> str:
        """'layer 1/2 · head 2/2' (or 'layer 1/2 · all 2 heads')."""
        head = f"all {self.n_heads} heads" if self.view.all_heads else f"head {self.view.head + 1}/{self.n_heads}"
        return f"layer {self.view.layer + 1}/{self.n_layers} · {head}"

    def subtitle_prefix(self) -> str:
        return self.where()

    def depends_on(self, frame: Frame) -> tuple:
        v = frame.view
        return (frame.probe, v.layer, v.head, v.all_heads, v.values)

    def draw(self, frame: Frame) -> None:
        self.view, self.probe = replace(frame.view), frame.probe  # a copy: the App's view moves on
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()  # cell sizes follow the panel's size

    def redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#heatmap", TextBlock).show(self.maps())

    def maps(self) -> Text:
        if self.probe is None:
            return Text("no attention yet: press space to train, s for one step", style="dim")
        labels = [self.label(int(t)) for t in self.probe.tokens]
        maps = self.probe.attention[self.view.layer]  # (H, T, T)
        if self.view.all_heads:
            return self.overview_maps(maps, labels)
        return self.heatmap(maps[self.view.head], labels)

    def heatmap(self, a: np.ndarray, labels: list[str]) -> Text:
        """One head's (T, T) map, labelled, every row; cells as wide as the panel allows
        (columns past its width are left out, and said so)."""
        T = len(labels)
        row_w = max(len(s) for s in labels) + 1
        room = max(self.scrollable_content_region.width - row_w - 1, 1)
        width = max(4 if self.view.values else 1, min(6, room // T))
        cols = min(T, room // width)
        height = 2 if 2 * T + 1 <= self.size.height and width >= 4 else 1  # square-ish cells when there is room
        text = Text(" " * row_w)
        for j in range(cols):  # the key labels above the columns: the same tokens as the rows
            text.append(labels[j][: width - 1].center(width - 1) + " " if width > 1 else labels[j][:1], style="dim")
        text.append("  keys →\n" if room - cols * width >= 8 else "\n", style="dim")
        styles = weight_styles(a)
        for i in range(T):
            for line in range(height):
                text.append((labels[i] if line == 0 else "").rjust(row_w - 1) + " ", style="dim")
                for j in range(cols):
                    shown = cell(a[i, j], width, self.view.values and line == height - 1)
                    text.append(shown, style=styles[i][j])
                text.append("\n")
        if cols < T:
            text.append(f"showing {cols} of {T} columns", style="dim italic")
        text.rstrip()
        return text

    def overview_maps(self, maps: np.ndarray, labels: list[str]) -> Text:
        """Every head's map at one character a cell, side by side, wrapping to more rows of maps."""
        H, T, _ = maps.shape
        gap = 3
        per_row = max(1, (self.scrollable_content_region.width + gap) // (T + gap))
        lines: list[Text] = []
        styles = weight_styles(maps)
        for first in range(0, H, per_row):
            heads = range(first, min(first + per_row, H))
            lines.append(Text((" " * gap).join(f"head {h + 1}"[:T].ljust(T) for h in heads), style="dim"))
            for i in range(T):
                line = Text()
                for n, h in enumerate(heads):
                    line.append(" " * gap if n else "")
                    for j in range(T):
                        line.append(cell(maps[h, i, j], 1, False), style=styles[h][i][j])
                lines.append(line)
        return Text("\n").join(lines)
