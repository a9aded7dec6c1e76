"""The Attention panel: the probe sample's attention weights for one layer and head as a
heatmap, rows the querying positions and columns the positions they look at, each
labelled with its token; or all heads of a layer side by side."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from engine.reports import ProbeReport

from .glyphs import probability, shade
from .panel import Noted

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


class AttentionPanel(Noted, Widget, can_focus=False):
    """Heatmap of attention weights; layer, head, overview and numbers are chosen from the App's keys."""

    DEFAULT_CSS = "AttentionPanel { height: 1fr; }"

    probe: reactive[ProbeReport | None] = reactive(None)
    layer_index: reactive[int] = reactive(0)
    head_index: reactive[int] = reactive(0)
    overview: reactive[bool] = reactive(False)  # all heads of the layer
    values: reactive[bool] = reactive(False)  # numbers instead of shades

    def __init__(self, label: Callable[[int], str], n_layers: int, n_heads: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.border_title = "Attention"
        self.n_layers, self.n_heads = n_layers, n_heads
        self.layer_index = n_layers - 1  # the last layer: where routing tasks show their pattern

    def move_layer(self, delta: int) -> None:
        self.layer_index = (self.layer_index + delta) % self.n_layers

    def move_head(self, delta: int) -> None:
        self.head_index = (self.head_index + delta) % self.n_heads

    def where(self) -> str:
        """'layer 1/2 · head 2/2' (or 'layer 1/2 · all 2 heads')."""
        head = f"all {self.n_heads} heads" if self.overview else f"head {self.head_index + 1}/{self.n_heads}"
        return f"layer {self.layer_index + 1}/{self.n_layers} · {head}"

    def subtitle_prefix(self) -> str:
        return self.where()

    def watch_layer_index(self) -> None:
        self.set_note()

    watch_head_index = watch_overview = watch_layer_index  # each changes what where() says

    def render(self) -> Text:
        if self.probe is None:
            return Text("no attention yet: press space to train, s for one step", style="dim")
        labels = [self.label(int(t)) for t in self.probe.tokens]
        maps = self.probe.attention[self.layer_index]  # (H, T, T)
        if self.overview:
            return self.overview_maps(maps, labels)
        return self.heatmap(maps[self.head_index], labels)

    def heatmap(self, a: np.ndarray, labels: list[str]) -> Text:
        """One head's (T, T) map, labelled; cells as large as the panel allows, clipped
        (and said so) when the sequence is longer than the panel."""
        T = len(labels)
        row_w = max(len(s) for s in labels) + 1
        room = max(self.size.width - row_w - 1, 1)
        width = max(4 if self.values else 1, min(6, room // T))
        cols = min(T, room // width)
        header = self.size.height > T  # the key labels above the columns: the same tokens as the rows
        space = self.size.height - header
        height = 2 if 2 * T <= space - 1 and width >= 4 else 1  # square-ish cells when there is room
        rows = min(T, max(space // height, 1))
        if rows < T:
            rows = max(1, (space - 1) // height)  # keep a line for the note
        text = Text()
        if header:
            text.append(" " * row_w)
            for j in range(cols):
                text.append(labels[j][: width - 1].center(width - 1) + " " if width > 1 else labels[j][:1], style="dim")
            text.append("  keys →\n" if room - cols * width >= 8 else "\n", style="dim")
        styles = weight_styles(a)
        for i in range(rows):
            for line in range(height):
                text.append((labels[i] if line == 0 else "").rjust(row_w - 1) + " ", style="dim")
                for j in range(cols):
                    shown = cell(a[i, j], width, self.values and line == height - 1)
                    text.append(shown, style=styles[i][j])
                text.append("\n")
        if rows < T or cols < T:
            text.append(f"showing {rows} of {T} rows, {cols} of {T} columns", style="dim italic")
        text.rstrip()
        return text

    def overview_maps(self, maps: np.ndarray, labels: list[str]) -> Text:
        """Every head's map at one character a cell, side by side, wrapping to more rows of maps."""
        H, T, _ = maps.shape
        gap = 3
        per_row = max(1, (self.size.width + gap) // (T + gap))
        room = max(self.size.height, 1)
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
        if len(lines) > room:
            lines = lines[: room - 1] + [Text(f"showing {room - 1} of {len(lines)} lines", style="dim italic")]
        return Text("\n").join(lines)
