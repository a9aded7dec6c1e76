"""The Embeddings panel: the label placement on its own (every label placed or counted, none
overlapping, the extreme points on the canvas's edges), then the panel in the lab as a user
drives it (e, E, training, replay, resizing), read off the screen."""

import re

import numpy as np
import pytest
from rich.cells import cell_len

from engine.training.reports import ProbeReport, Projection
from tfnp_tui.widgets.embeddings import DOT, EMPTY, EmbeddingPanel, canvas, picture, place_labels
from tfnp_tui.widgets.loss import LossPanel

from .lab import make_lab, press, screen_text

SMALL, LARGE = (80, 24), (120, 40)
# sort with strong weight decay: the tokens form a number line within three short epochs
SORT = ["--task", "sort", "--optimizer", "adamw", "--weight-decay", "1", "--lr", "1e-2", "--samples", "3000",
        "--dtype", "float64"]  # fmt: skip


# ------------------------------------------------------------------------------ placement
def check_placement(placement, labels, width, height):
    """Every label placed inside the canvas or counted; placed labels apart by a blank on their
    row; the owner grid holds exactly the placed labels' cells."""
    assert len(placement.spots) == len(labels)
    assert placement.unplaced == sum(s is None for s in placement.spots)
    placed = [(i, s) for i, s in enumerate(placement.spots) if s is not None]
    by_row: dict[int, list[tuple[int, int]]] = {}
    for i, (r, c) in placed:
        w = cell_len(labels[i])
        assert 0 <= r < height and 0 <= c and c + w <= width
        assert placement.owner[r][c : c + w] == [i] * w
        by_row.setdefault(r, []).append((c, c + w))
    for spans in by_row.values():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert start >= end + 1  # a blank between two labels
    owned = sum(who >= 0 for row in placement.owner for who in row)
    assert owned == sum(cell_len(labels[i]) for i, _ in placed)
    assert [cell_len(text) for text in placement.rows(labels)] == [width] * height


@pytest.mark.parametrize("n, width, height", [(20, 57, 13), (20, 35, 6), (300, 35, 6), (90, 57, 13)])
def test_every_label_is_placed_or_counted_and_none_overlap(n, width, height):
    points = np.random.default_rng(n).standard_normal((n, 2))
    labels = [str(i) for i in range(n)]
    placement = place_labels(points, labels, width, height)
    check_placement(placement, labels, width, height)
    if n == 20 and height == 13:
        assert placement.unplaced == 0  # a small vocabulary fits at 120x40
    if n == 300:
        assert placement.unplaced > 0


def test_the_extreme_points_touch_the_canvas_edges():
    points = np.array([[-3.0, 0.0], [5.0, 0.5], [0.0, 2.0], [1.0, -1.0], [0.5, 0.3]])
    labels = ["left", "right", "top", "bottom", "mid"]
    placement = place_labels(points, labels, 40, 9)
    check_placement(placement, labels, 40, 9)
    spots = dict(zip(labels, placement.spots))
    assert spots["left"][1] == 0  # first column
    assert spots["right"][1] + len("right") == 40  # ends in the last column
    assert spots["top"][0] == 0 and spots["bottom"][0] == 8
    # the others where the scale puts them: x from -3 (column 0) to 5 (column 39), y from 2 (row 0) to -1 (row 8)
    assert spots["mid"] == (round((2.0 - 0.3) / 3 * 8), round(3.5 / 8 * 39) - 1)  # "mid" centred on its cell


def test_a_label_whose_cell_is_taken_goes_next_to_it():
    points = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    labels = ["7", "8", "9", "x"]
    placement = place_labels(points, labels, 21, 5)
    check_placement(placement, labels, 21, 5)
    first = placement.spots[0]
    for spot in placement.spots[1:3]:
        assert spot is not None and spot != first
        assert abs(spot[0] - first[0]) <= 1 and abs(spot[1] - first[1]) <= 4


def test_a_crowded_canvas_counts_the_labels_it_cannot_place_and_dots_their_points():
    rng = np.random.default_rng(1)
    points = np.r_[np.zeros((60, 2)), rng.uniform(-1, 1, (5, 2))]  # 60 labels for the one centre cell
    points[-2:] = [[-1.0, -1.0], [1.0, 1.0]]
    labels = [str(i) for i in range(63)] + ["a label wider than the whole canvas itself", "64"]
    placement = place_labels(points, labels, 40, 7)
    check_placement(placement, labels, 40, 7)
    assert 40 <= placement.unplaced < 60  # the centre's neighbourhood (3 rows, a few columns) holds a dozen
    text = canvas(Projection(points, (0.5, 0.25)), labels, 41, 9).plain  # the same canvas, with its axes
    assert f"{placement.unplaced} of 65 labels not placed" in text.splitlines()[0]
    dots = [(r, c) for r, row in enumerate(placement.owner) for c, who in enumerate(row) if who == DOT]
    assert (6, 0) in dots  # the point of the label too wide to place, alone in its corner
    for r, c in dots:  # a dot never touches a label (it would read as part of it)
        assert all(placement.owner[r][cc] in (EMPTY, DOT) for cc in range(max(c - 1, 0), min(c + 2, 40)))


def test_an_axis_spread_by_rounding_alone_is_drawn_midway():
    points = np.c_[np.arange(5.0), [0.0, 1e-17, -1e-17, 0.0, 2e-17]]  # a rank-1 projection's second axis
    placement = place_labels(points, list("abcde"), 25, 7)
    assert {spot[0] for spot in placement.spots} == {3}


def test_wide_characters_take_two_cells():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    labels = ["字", "a", "é"]
    placement = place_labels(points, labels, 12, 3)
    check_placement(placement, labels, 12, 3)
    assert "字" in "".join(placement.rows(labels))


def probe_with(embedding, inputs=None):
    """A probe of three positions with the given projections (the rest does not matter here)."""
    t, maps = np.arange(3), np.zeros((1, 1, 3, 3))
    return ProbeReport(tokens=t, targets=t, probs=np.full((3, 3), 1 / 3), attention=maps, scores=maps,
                       lens=np.zeros((1, 3, 3)), embedding=embedding, inputs=inputs)  # fmt: skip


def test_what_the_panel_says_before_a_picture():
    assert "nothing probed yet" in picture(None, False, str, 36, 8).plain
    assert "projecting every token's embedding" in picture(probe_with(None), False, str, 36, 8).plain
    bad = Projection(np.array([[0.0, np.nan], [1.0, 2.0], [0.0, 1.0]]), (np.nan, np.nan))
    assert "not all finite" in picture(probe_with(bad), False, str, 36, 8).plain
    good = Projection(np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]]), (0.8, 0.2))
    text = picture(probe_with(good), False, str, 36, 8).plain.splitlines()
    assert text[0].startswith("↑ PC2 20%") and text[-1].endswith("PC1 80% of variance →") and len(text) == 8


# ------------------------------------------------------------------------------ in the lab
def inside(app, panel) -> list[str]:
    """The panel's content as the screen shows it, line by line."""
    r = panel.content_region
    return [line[r.x : r.x + r.width] for line in screen_text(app).splitlines()[r.y : r.y + r.height]]


def words(lines: list[str]) -> list[str]:
    """The labels on the canvas: the rows between the top line and the PC1 axis, left of which is the PC2 axis."""
    return [word for line in lines[1:-1] for word in line[1:].split() if word != "·"]


def not_placed(lines: list[str]) -> int:
    found = re.search(r"(\d+) (of \d+ labels )?not placed", lines[0])
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_e_shows_every_token_then_e_positions_and_e_back_to_the_loss(size):
    app = make_lab()  # the original setup: 20 tokens, 4 positions
    async with app.run_test(size=size) as pilot:
        panel, loss = app.query_one(EmbeddingPanel), app.query_one(LossPanel)
        await press(pilot, "e")
        assert panel.display and not loss.display
        await press(pilot, "n")
        lines = inside(app, panel)
        assert lines[0].startswith("↑ PC2 ") and "PC1 " in lines[-1] and lines[-1].startswith("└")
        shown, tokens = words(lines), [str(i) for i in range(20)]
        assert len(set(shown)) == len(shown) and set(shown) <= set(tokens)
        assert len(shown) + not_placed(lines) == 20  # every token drawn, or counted
        if size == LARGE:
            assert set(shown) == set(tokens)
        assert panel.border_subtitle.startswith("vocabulary")
        await press(pilot, "E")
        probe = app.query_one(EmbeddingPanel).probe
        assert sorted(words(inside(app, panel))) == sorted(f"{p}:{t}" for p, t in enumerate(probe.tokens))
        assert "positions" in panel.border_subtitle
        await press(pilot, "e")
        assert loss.display and not panel.display


async def test_the_number_line_and_its_replay():
    """Sort with weight decay: after three epochs the tokens lie in order along PC1 (0 on the
    left, 19 on the right); replaying the first epoch shows that epoch's points."""
    app = make_lab(*SORT)
    async with app.run_test(size=LARGE) as pilot:
        panel = app.query_one(EmbeddingPanel)
        await press(pilot, "n", "n", "n", "e")
        x = panel.probe.embedding.points[:, 0]
        assert np.corrcoef(np.arange(20), x)[0, 1] > 0.95
        lines = inside(app, panel)
        assert any(line[1:].startswith(str(x.argmin())) for line in lines[1:-1])  # the leftmost at column 0
        assert any(line.rstrip().endswith(" " + str(x.argmax())) for line in lines[1:-1])  # the rightmost at the end
        await press(pilot, "left", "left", "left")
        assert app.view.epoch == 1 and panel.probe is app.history.get(1).probe
        assert "epoch 1 of 3 (replay)" in panel.border_subtitle
        x = panel.probe.embedding.points[:, 0]
        lines = inside(app, panel)
        assert any(line[1:].startswith(str(x.argmin())) for line in lines[1:-1])
        assert any(line.rstrip().endswith(" " + str(x.argmax())) for line in lines[1:-1])
        assert sorted(words(lines), key=int) == [str(i) for i in range(20)]


async def test_a_knocked_out_head_under_replay_keeps_the_epochs_embedding():
    app = make_lab("--task", "reverse", "--seq-len", "6", "--layers", "1", "--heads", "2")
    async with app.run_test(size=LARGE) as pilot:
        await press(pilot, "n", "k", "e", "left")
        panel = app.query_one(EmbeddingPanel)
        assert app.view.knocked == (0, 0) and app.view.epoch == 1
        assert panel.probe.embedding is not None and "projecting" not in "\n".join(inside(app, panel))
        assert len(words(inside(app, panel))) + not_placed(inside(app, panel)) == app.trainer.model_cfg.vocab_size


async def test_text_characters_are_labelled_readably(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("the cat sat on the mat.\nA dog, too!\n" * 30)
    app = make_lab("--task", "text", "--data", str(data), "--seq-len", "8", "--samples", "64")
    async with app.run_test(size=LARGE) as pilot:
        await press(pilot, "e")
        panel = app.query_one(EmbeddingPanel)
        shown = words(inside(app, panel))
        assert "␣" in shown and "↵" in shown  # space and newline, visible
        assert sorted(shown) == sorted(app.lab.label(i) for i in range(app.trainer.model_cfg.vocab_size))


async def test_the_picture_follows_a_resize():
    app = make_lab()
    async with app.run_test(size=LARGE) as pilot:
        await press(pilot, "e")
        panel = app.query_one(EmbeddingPanel)
        wide = inside(app, panel)
        await pilot.resize_terminal(*SMALL)
        await press(pilot)
        narrow = inside(app, panel)
        assert len(narrow) < len(wide) and len(narrow[-1]) < len(wide[-1])
        assert narrow[-1].rstrip().endswith("PC1 " + narrow[-1].split("PC1 ")[1].strip())
        assert narrow[-1].startswith("└─") and narrow[-1].rstrip().endswith("→")
        assert len(words(narrow)) + not_placed(narrow) == 20
