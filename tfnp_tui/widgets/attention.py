"""The Attention panel: the probe sample's attention weights for one layer and head as a
heatmap, rows the querying positions and columns the positions they look at, each
labelled with its token; or all heads of a layer side by side; or one query's row computed.

The computed row (key c; ',' and '.' move the query) is the softmax worked out for one query
position t, a line per key position j:

    score_j  = q_t·k_j / sqrt(D) + mask_j      (ProbeReport.scores; mask -inf after t when causal)
    exp_j    = e^(score_j - max score)          (worked out here, in float64)
    weight_j = exp_j / sum of exp               (ProbeReport.attention: the model's own weights)

so a learner can check the weights by hand: the largest score gets exp 1, a score lower by
one gets 0.37 of it, a masked key gets 0. The numbers are rounded to 4 significant figures
(3 when the panel is narrow); the footer gives the max, the sum of exp, and the sum of the
weights (1 up to rounding).
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult

from engine.training.reports import ProbeReport

from ..view import Frame, View
from .glyphs import EIGHTHS, probability, shade
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
        """'layer 1/2 · head 2/2' (or 'layer 1/2 · all 2 heads'; the computed row is one head's)."""
        many = self.view.all_heads and not self.view.row
        head = f"all {self.n_heads} heads" if many else f"head {self.view.head + 1}/{self.n_heads}"
        return f"layer {self.view.layer + 1}/{self.n_layers} · {head}"

    def subtitle_prefix(self) -> str:
        return self.where()

    def depends_on(self, frame: Frame) -> tuple:
        v = frame.view
        return (frame.probe, v.layer, v.head, v.all_heads, v.values, v.row, v.query, v.knocked)

    def draw(self, frame: Frame) -> None:
        self.view, self.probe = replace(frame.view), frame.probe  # a copy: the App's view moves on
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()  # cell sizes follow the panel's size

    def redraw(self) -> None:
        if self.is_mounted:
            self.query_one("#heatmap", TextBlock).show(self.maps())
            title = self.TITLE
            if self.view.row and self.probe is not None:
                t = self.view.query % len(self.probe.tokens)
                title += f" · query {t} '{self.label(int(self.probe.tokens[t]))}'"
            if title != self.border_title:  # setting it repaints the whole panel
                self.border_title = title

    def maps(self) -> Text:
        if self.probe is None:
            return Text("no attention yet: press space to train, s for one step", style="dim")
        labels = [self.label(int(t)) for t in self.probe.tokens]
        maps = self.probe.attention[self.view.layer]  # (H, T, T)
        if self.view.row:
            return self.row_table(labels)
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

    # ------------------------------------------------------------------ one row computed
    @property
    def room(self) -> int:
        """The columns a line may take, the scrollbar's kept free."""
        return max(min(self.scrollable_content_region.width, self.size.width - 1), 1)

    def row_table(self, labels: list[str]) -> Text:
        """The shown head's softmax for the query position view.query, a line per key: its
        position and token, score, mask, exp(score - max), weight and a bar of it; notes on
        top (knocked out, all heads), the sums at the foot."""
        T, v = len(labels), self.view
        t = v.query % T  # the query (a typed sequence may be shorter than the last one)
        scores = self.probe.scores[v.layer, v.head, t].astype(np.float64)  # (T,) q·k/sqrt(D) + mask
        weights = self.probe.attention[v.layer, v.head, t].astype(np.float64)  # (T,) the model's softmax
        masked = (np.arange(T) > t) if self.lab.causal else np.zeros(T, dtype=bool)  # (T,) keys after t
        top = scores[~masked].max()  # key t itself is never masked
        exps = np.exp(scores - top)  # (T,) 1 at the max, 0 where masked
        text = Text()
        if v.knocked == (v.layer, v.head):  # in one line, shorter where the panel is narrow
            note = "(knocked out: its output is not used)"
            text.append((note if len(note) <= self.room else "(knocked out: output not used)") + "\n", style="bold")
        if v.all_heads:
            text.append(f"all heads: the row of head {v.head + 1} (h moves)\n", style="dim")
        text.append_text(self.row_lines(labels, scores, masked, exps, weights))
        notes = [
            f"max score {figure(top, 4)} · Σexp {figure(exps.sum(), 4)} · Σweight {weights.sum():.6f}",
            "score = q·k/√D + mask, exp = e^(score - max), weight = exp/Σexp",
            "mask: -inf on the keys after the query (causal)" if self.lab.causal else "mask: none (not causal)",
        ]
        wrapped = [part for line in notes for part in textwrap.wrap(line, self.room)]
        text.append("".join("\n" + line for line in wrapped), style="dim")
        return text

    def row_lines(self, labels, scores, masked, exps, weights) -> Text:
        """The header and a line per key: 4 significant figures, columns two spaces apart, when
        that fits; else one space apart; else 3 figures. A bar of the weight where room is left."""
        T, wj, wl = len(labels), len(str(len(labels) - 1)), max(len(s) for s in labels)
        for digits, gap in ((4, 2), (4, 1), (3, 2), (3, 1)):
            columns = [
                ("score", [figure(x, digits) for x in scores]),
                ("mask", ["-inf" if m else "0" for m in masked]),
                ("exp", [figure(x, digits, lead_zero=False) for x in exps]),
                ("weight", [figure(x, digits, lead_zero=False) for x in weights]),
            ]
            widths = [max(len(head), *(len(c) for c in cells)) for head, cells in columns]
            used = wj + 1 + wl + sum(gap + w for w in widths)
            if used <= self.room:
                break
        bar = min(8, self.room - used - 1) if self.room - used - 1 >= 2 else 0
        pad = " " * gap
        text = Text(
            f"{'key':<{wj + 1 + wl}}" + "".join(f"{pad}{h:>{w}}" for (h, _), w in zip(columns, widths)), style="dim"
        )
        best, styles = int(np.argmax(weights)), weight_styles(weights)  # the heatmap's colours
        for j in range(T):
            cells = "".join(f"{pad}{c[j]:>{w}}" for (_, c), w in zip(columns, widths))
            text.append(
                f"\n{j:>{wj}} {labels[j]:>{wl}}{cells}", style="dim" if masked[j] else "bold" if j == best else ""
            )
            if bar:
                text.append(" " + linear_bar(weights[j], bar), style=styles[j])
        return text


def figure(x: float, digits: int, lead_zero: bool = True) -> str:
    """x to `digits` significant figures, trailing zeros kept: 1.234, -12.30, 0.5012 (or .5012
    without the leading zero), 1.000, 1.234e-5; 0 and -inf as they are."""
    if x == 0 or not np.isfinite(x):
        return "0" if x == 0 else str(x)
    text = f"{x:#.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa.rstrip('.')}e{int(exponent)}"
    if not lead_zero and text.startswith(("0.", "-0.")):
        text = text.replace("0.", ".", 1)
    return text.rstrip(".")


def linear_bar(value: float, width: int) -> str:
    """A bar of value in [0, 1], `width` cells at 1, drawn in eighths of a cell ('?' if not finite)."""
    if not np.isfinite(value):
        return "?".ljust(width)
    eighths = int(round(min(max(value, 0.0), 1.0) * width * 8))
    full, part = divmod(eighths, 8)
    return (EIGHTHS[-1] * full + (EIGHTHS[part] if part else "")).ljust(width)
