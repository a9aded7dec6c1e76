"""The Embeddings panel: where the model puts its tokens, drawn on a character canvas.

Two pictures, both by principal component analysis (engine/analysis/embedding_space.py):
the vectors are centred, and the canvas shows them on the two directions along which they
vary most (PC1 across, PC2 up); each axis's caption says what share of all the variance it
holds, so "PC1 43%" means the picture shows 43% of how the vectors differ along its width.

    vocabulary (e)    every token's embedding, the row embed[i], labelled with the token
    positions  (E)    embed[token] + PE[position] for each position of the probe sample (or of
                      the typed sequence): the first block's input, labelled position:token

How to read it: tokens the model treats alike sit close. On the sort task, where a token's
value is what matters, the tokens line up in order along PC1 as training goes on, often bent
into an arc: a number line (clearest with weight decay, which wears away the random start;
on next, a lookup of the following token, no order forms). Labels are coloured from blue to
orange by token id (by position in the positions view), and the label itself says which is
which where colour does not show. The engine fixes each axis's sign (the later tokens on the
positive side where the points follow their order), so replayed epochs do not flip.

The axes are scaled to the points' range (each axis on its own: the captions give their
weights), so the extreme points touch the canvas's edges. A label goes at its point's cell;
where another label is there already it is nudged to the nearest free cell close by, and
where none is free it is counted in the top line ("3 of 20 labels not placed"), and its point
drawn as '·' where that touches no label: nothing is left out unsaid.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from rich.cells import cell_len
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.training.reports import ProbeReport, Projection

from ..view import Frame
from .panel import Panel, same

EMPTY, DOT = -1, -2  # what a canvas cell holds besides a label's index
FLAT = 1e-9  # an axis whose span is below this share of the other's is rounding noise: drawn flat
# where a label may go when its own cell is taken: a row up or down, a few columns aside,
# nearest first (a row counts as two columns: a cell is about twice as tall as it is wide)
NUDGES = sorted(((dr, dc) for dr in (-1, 0, 1) for dc in range(-4, 5)), key=lambda d: (4 * d[0] ** 2 + d[1] ** 2, d))
GRADIENT = ((80, 140, 255), (70, 200, 170), (235, 200, 70), (240, 120, 70))  # the colour of the first .. last
MIN_WIDTH, MIN_HEIGHT = 12, 4  # smaller than this, the panel says so instead


class Placement(NamedTuple):
    """Labels on a canvas `height` rows by `width` columns."""

    owner: list[list[int]]  # (height, width): the label index in each cell, EMPTY, or DOT (an unplaced point)
    spots: list[tuple[int, int] | None]  # per label: (row, first column), or None where it found no room

    @property
    def unplaced(self) -> int:
        return sum(spot is None for spot in self.spots)

    def pieces(self, labels: list[str]) -> list[list[tuple[int, str]]]:
        """Each canvas row as (owner, text) pieces, left to right: a label (its index), the
        dots of unplaced points (DOT), blanks (EMPTY)."""
        out = []
        for row in self.owner:
            pieces: list[tuple[int, str]] = []
            for who, run in _runs(row):
                pieces.append((who, labels[who] if who >= 0 else ("·" if who == DOT else " ") * run))
            out.append(pieces)
        return out

    def rows(self, labels: list[str]) -> list[str]:
        """The canvas as plain text, one string a row."""
        return ["".join(text for _, text in pieces) for pieces in self.pieces(labels)]


def _runs(row: list[int]) -> list[tuple[int, int]]:
    """A canvas row as (owner, length) runs of equal cells (a label's cells are one run: two
    labels on a row never touch)."""
    runs: list[tuple[int, int]] = []
    for who in row:
        if runs and runs[-1][0] == who:
            runs[-1] = (who, runs[-1][1] + 1)
        else:
            runs.append((who, 1))
    return runs


def to_cells(points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """points (N, 2) -> each point's (row, column) on the canvas, (N,) each: x from the left
    edge (its minimum) to the right (its maximum), y from the bottom up. An axis along which
    the points do not spread (all equal, or spread by rounding alone) puts them mid-way."""
    low, high = points.min(axis=0), points.max(axis=0)  # (2,)
    span = high - low  # (2,)
    flat = span <= FLAT * span.max()
    unit = np.where(flat, 0.5, (points - low) / np.where(flat, 1.0, span))  # (N, 2) in [0, 1]
    cols = np.rint(unit[:, 0] * (width - 1)).astype(int)  # (N,)
    rows = np.rint((1.0 - unit[:, 1]) * (height - 1)).astype(int)  # (N,) row 0 at the top
    return rows, cols


def place_labels(points: np.ndarray, labels: list[str], width: int, height: int) -> Placement:
    """Put label i at point i (N, 2) on a canvas `height` by `width` cells, centred on its
    cell and kept inside the canvas, with a blank cell between labels on the same row; a
    label whose place is taken goes to the nearest free place among NUDGES, or is not placed
    (its point then shows as '·' if that cell and its neighbours hold no label)."""
    rows, cols = to_cells(np.asarray(points, dtype=np.float64), width, height)
    owner = [[EMPTY] * width for _ in range(height)]
    taken = [bytearray(width + 2) for _ in range(height)]  # a column of margin each side: c is taken[r][c + 1]
    spots: list[tuple[int, int] | None] = []
    full: set[tuple[int, int, int]] = set()  # (row, column, width) that found no room: it never will again
    for i, label in enumerate(labels):
        where = (int(rows[i]), int(cols[i]), cell_len(label))
        spot = None if where in full else _find_room(taken, *where, width, height)
        spots.append(spot)
        if spot is None:
            full.add(where)
            continue
        row, first = spot
        w = where[2]
        taken[row][first + 1 : first + 1 + w] = b"\1" * w
        owner[row][first : first + w] = [i] * w
    for i, spot in enumerate(spots):  # a dot where it touches no label (beside one it would read as part of it)
        if spot is None and taken[rows[i]].find(1, cols[i], cols[i] + 3) == -1:
            owner[rows[i]][cols[i]] = DOT
    return Placement(owner, spots)


def _find_room(taken: list[bytearray], row: int, col: int, w: int, width: int, height: int) -> tuple[int, int] | None:
    """The nearest place (row, first column) for a label `w` cells wide meant for cell (row,
    col) whose cells and both neighbours on its row are free; None if there is none."""
    if w > width:
        return None
    for dr, dc in NUDGES:
        r = row + dr
        first = min(max(col + dc - (w - 1) // 2, 0), width - w)
        if 0 <= r < height and taken[r].find(1, first, first + w + 2) == -1:
            return r, first
    return None


@lru_cache(maxsize=64)
def gradient_style(level: int) -> Style:
    """The colour of level/63 along GRADIENT (64 levels, made once each)."""
    x = level / 63 * (len(GRADIENT) - 1)
    k = min(int(x), len(GRADIENT) - 2)
    t = x - k
    rgb = (int(a + (b - a) * t) for a, b in zip(GRADIENT[k], GRADIENT[k + 1]))
    return Style(color=Color.from_rgb(*rgb), bold=True)


def share(fraction: float) -> str:
    """A share of the variance: '43%', '4.2%', '?' when it is not known."""
    if not np.isfinite(fraction):
        return "?"
    percent = 100 * fraction
    return f"{percent:.0f}%" if percent >= 9.95 or percent == 0 else f"{percent:.1f}%"


class EmbeddingPanel(Panel, Widget):
    """The vocabulary's embeddings, or the probe's inputs position by position, in 2-D."""

    TITLE = "Embeddings"
    SHOWN_BY = "embeddings"

    def __init__(self, lab, **kwargs) -> None:
        super().__init__(lab, **kwargs)
        self.label = lab.label
        self.probe: ProbeReport | None = None
        self.positions = False  # the positions view (embedding + positional encoding), not the vocabulary
        self.typed = False  # the probe is a sequence the user typed

    def subtitle_prefix(self) -> str:
        """'vocabulary · PCA' or 'probe positions · PCA'; shorter, or nothing, where it and the
        note ('epoch 3 of 12 (replay)', which matters more) would not fit on the border."""
        what = ("typed positions" if self.typed else "probe positions") if self.positions else "vocabulary"
        short = "positions" if self.positions else "vocabulary"
        room = self.outer_size.width - 6 - len(" · ") - len(self.note)  # the border's corners take 6
        return next((s for s in (f"{what} · PCA", what, short) if len(s) <= room), "")

    def on_resize(self) -> None:
        self.set_note()  # the subtitle's length follows the width (the picture redraws by itself)

    def depends_on(self, frame: Frame) -> tuple:
        return (frame.probe, frame.view.positions)  # the size is render's: a resize renders again

    def draw(self, frame: Frame) -> None:
        self.probe, self.positions = projected(frame), frame.view.positions
        self.typed = frame.view.typed and frame.epoch is None  # a replayed epoch shows its probe sample
        self.refresh()

    def clear(self) -> None:
        super().clear()
        self.probe = None
        self.refresh()

    _picture: tuple[tuple, Text] | None = None  # what the last picture was made of, and it

    def render(self) -> Text:
        """The picture for the panel's size (Textual renders again after a resize or refresh;
        a repaint of the border alone reuses the last picture)."""
        made_of = (self.probe, self.positions, *self.size)
        if self._picture is None or not same(made_of, self._picture[0]):
            self._picture = (made_of, picture(self.probe, self.positions, self.label, *self.size))
        return self._picture[1]


def projected(frame: Frame) -> ProbeReport | None:
    """The frame's probe; under replay with a head knocked out, whose probe leaves the
    projections out (a knock-out changes no embedding), the epoch's own probe of the same sample."""
    probe = frame.probe
    if probe is not None and probe.embedding is None and frame.epoch is not None:
        return frame.epoch.probe
    return probe


def picture(probe: ProbeReport | None, positions: bool, label, width: int, height: int) -> Text:
    """The panel's content, `width` by `height` cells, for a probe (None: not yet)."""
    what = "the probe's positions" if positions else "every token's embedding"
    if probe is None:
        return Text(f"nothing probed yet: {what}, in 2-D by PCA, appears here", style="dim")
    projection = probe.inputs if positions else probe.embedding
    if projection is None:  # live probes project only while the panel is shown: one is on its way
        return Text(f"projecting {what}…", style="dim")
    if positions:
        labels = [f"{p}:{label(int(t))}" for p, t in enumerate(probe.tokens)]
    else:
        labels = [label(i) for i in range(len(projection.points))]
    if not np.isfinite(projection.points).all():
        return Text("the vectors are not all finite: no picture", style="dim")
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return Text(f"too small to draw ({width}x{height})", style="dim")
    return canvas(projection, labels, width, height)


def canvas(projection: Projection, labels: list[str], width: int, height: int) -> Text:
    """The frame, its captions and the labels placed: a top line (the PC2 caption, and how many
    labels found no room), the canvas rows with the PC2 axis on their left, the PC1 axis below."""
    placed = place_labels(projection.points, labels, width - 1, height - 2)
    n, missing = len(labels), placed.unplaced
    pc1, pc2 = projection.explained
    top = Text(f"↑ PC2 {share(pc2)}", style="dim")
    if missing:
        said = f"{missing} of {n} labels not placed"
        if top.cell_len + 2 + len(said) > width:
            said = f"{missing} not placed"
        top.append(said.rjust(width - top.cell_len), style="yellow")
    lines = [top]
    for pieces in placed.pieces(labels):
        line = Text("│", style="dim")
        for who, text in pieces:
            line.append(text, style=_label_style(who, n) if who >= 0 else "dim")
        lines.append(line)
    caption = f" PC1 {share(pc1)} of variance →" if width >= 30 else f" PC1 {share(pc1)} →"
    lines.append(Text("└" + "─" * max(width - 1 - len(caption), 0) + caption, style="dim"))
    return Text("\n", no_wrap=True, overflow="crop").join(lines)


def _label_style(i: int, n: int) -> Style:
    return gradient_style(round(63 * i / max(n - 1, 1)))
