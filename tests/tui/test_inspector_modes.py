"""The Inspector's loss column and logit lens, and the Attention panel's computed row, driven
by keys as a user drives them, at 80x24 and 120x40, live and under replay: what the screen
shows against the probe's numbers worked out here (the loss from the probabilities, exp and the
softmax from the scores)."""

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from tfnp_tui.widgets.attention import AttentionPanel
from tfnp_tui.widgets.inspector import InspectorPanel

from .lab import REVERSE, make_lab, press, screen_text, settle

SIZES = [(80, 24), (120, 40)]
SMALL = ["--samples", "64", "--val-samples", "16"]  # an epoch of two steps: quick tests
REVERSE = [*REVERSE, *SMALL]
DEEP = [*REVERSE, "--layers", "4", "--norm-first"]
NUM = r"(-?inf|-?[\d.]+(?:e-?\d+)?)"  # a number as the panels print it
TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture
def text_file(tmp_path):
    """t.txt in the test's folder: a text for the text task (a causal model)."""
    (tmp_path / "t.txt").write_text(TEXT)


def panel_lines(app, panel) -> list[str]:
    """What the panel shows on screen, line by line, inside its borders."""
    x0, x1, y0, y1 = panel.region.x + 1, panel.region.right - 1, panel.region.y + 1, panel.region.bottom - 1
    return [line[x0:x1] for line in screen_text(app).splitlines()[y0:y1]]


def words(text: str) -> str:
    """The text with every run of white space one space: lines wrapped anywhere read the same."""
    return " ".join(text.split())


def shown_as(text: str, value: float) -> bool:
    """Whether `text` is `value` rounded to the last digit `text` shows (within half of it)."""
    if text in ("-inf", "inf"):
        return value == float(text)
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2]) - int(exponent or 0)
    return abs(float(text) - value) <= 0.5 * 10.0**-decimals * (1 + 1e-9)


def row_cells(app) -> dict[int, list[str]]:
    """The computed row's lines on screen: key position -> [token, score, mask, exp, weight]."""
    rows = {}
    for line in panel_lines(app, app.query_one(AttentionPanel)):
        m = re.match(rf"\s*(\d+) +(\S+) +{NUM} +{NUM} +{NUM} +{NUM}", line)  # a bar or the scrollbar may follow
        if m:
            rows[int(m.group(1))] = list(m.groups()[1:])
    return rows


def check_row(app, probe, layer: int, head: int, query: int) -> int:
    """Every key on screen shows the probe's score, the mask, exp(score - max) and the weight;
    how many keys were on screen."""
    scores = probe.scores[layer, head, query].astype(np.float64)  # (T,)
    e = np.exp(scores - scores[np.isfinite(scores)].max())  # worked out here
    rows = row_cells(app)
    for j, (token, score, mask, exp, weight) in rows.items():
        assert token == app.lab.label(int(probe.tokens[j]))
        assert shown_as(score, scores[j]), (j, score, scores[j])
        assert mask == ("-inf" if np.isneginf(scores[j]) else "0")
        assert shown_as(exp, e[j]), (j, exp, e[j])
        assert shown_as(weight, probe.attention[layer, head, query, j]), (j, weight)
    np.testing.assert_allclose(e / e.sum(), probe.attention[layer, head, query], atol=1e-6)  # the softmax
    return len(rows)


async def keys(pilot, *names: str) -> None:
    """Press keys that train nothing (view keys, typing), then let the lab settle once."""
    await pilot.press(*names)
    await settle(pilot)


def check_losses(app, probe) -> None:
    """The predictions table shows -ln p(target) at each position, ▲ at the largest only."""
    lines = panel_lines(app, app.query_one(InspectorPanel))
    assert re.search(r"pred +p +loss", lines[0])
    losses = [-math.log(probe.probs[t, target]) for t, target in enumerate(probe.targets)]  # nats
    for t, loss in enumerate(losses):
        line = next(line for line in lines if re.match(rf"\s*{t} ", line))
        m = re.match(rf"\s*{t} +\S+ +\S+ +\S+ +\S+ +{NUM}(▲?)", line)  # pos in target pred p loss
        assert shown_as(m.group(1), loss), (t, loss, m.group(0))
        assert (m.group(2) == "▲") == (t == int(np.argmax(losses)))


def check_lens(app, probe, layers: int) -> None:
    """The lens shows, for every position and shown layer, the top prediction read out after the
    layer, p(target) and right or wrong; the last column is the model's own prediction."""
    panel = app.query_one(InspectorPanel)
    lines = panel_lines(app, panel)
    assert re.search(r"target +L1 +L2 out", lines[0]) and panel.border_subtitle.startswith("logit lens")
    for t in range(len(probe.tokens)):
        target = int(probe.targets[t])
        cells = re.findall(r"(\S+) (\.\d\d|1\.0)([✓✗])", lines[1 + t])
        assert len(cells) == layers, lines[1 + t]
        for (pred, p, mark), read in zip(cells, [*probe.lens[:-1, t], probe.probs[t]]):
            assert pred == app.lab.label(int(read.argmax()))
            assert float(p) == pytest.approx(read[target], abs=0.005 + 1e-9)
            assert mark == ("✓" if read.argmax() == target else "✗")


async def test_the_loss_column_and_the_logit_lens_at_both_sizes():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n")
        probe = app.query_one(InspectorPanel).probe
        check_losses(app, probe)
        await keys(pilot, "l")
        check_lens(app, probe, 2)
        np.testing.assert_array_equal(probe.lens[-1], probe.probs)  # 'L2 out': the same numbers
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        check_lens(app, probe, 2)
        shown = words(" ".join(panel_lines(app, app.query_one(InspectorPanel))))
        assert "read out: each layer's output, already normalised by its LN2, through the head (post-LN)" in shown
        await keys(pilot, "l")
        check_losses(app, probe)
        assert not app.query_one(InspectorPanel).border_subtitle.startswith("logit lens")


async def test_the_lens_says_which_layers_it_leaves_out_and_always_shows_the_last():
    app = make_lab(*DEEP)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "s")
        await keys(pilot, "l")
        panel = app.query_one(InspectorPanel)
        header = panel_lines(app, panel)[0]
        assert "L3 " in header and "L4 out" in header and "L1 " not in header
        assert "Inspector · L1-2 of 4 hidden" in screen_text(app)
        notes = words(panel.table().plain)  # wrapped to the panel's width
        assert "L1-2 of 4 hidden: a wider panel shows more" in notes
        assert "read out: each layer's output through ln_f and the head (pre-LN)" in notes
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        header = panel_lines(app, panel)[0]
        assert re.search(r"L1 +L2 +L3 +L4 out", header) and "hidden" not in screen_text(app)


async def test_c_computes_one_row_the_query_moves_and_c_goes_back():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n")
        await keys(pilot, "c")
        panel = app.query_one(AttentionPanel)
        probe = panel.probe
        assert panel.border_title == f"Attention · query 0 '{app.lab.label(int(probe.tokens[0]))}'"
        assert "layer 2/2 · head 1/2" in panel.border_subtitle
        header = next(line for line in panel_lines(app, panel) if "score" in line)
        assert re.search(r"key +score +mask +exp +weight", header)
        assert check_row(app, probe, 1, 0, 0) >= 6  # most keys on screen (the rest scroll), none wrong
        await keys(pilot, "full_stop", "full_stop", "h")
        assert panel.border_title.startswith("Attention · query 2 ")
        assert check_row(app, probe, 1, 1, 2) >= 6
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert check_row(app, probe, 1, 1, 2) == 8  # every key, and the sums under them
        scores = probe.scores[1, 1, 2].astype(np.float64)
        m = re.search(r"max score (\S+) · Σexp (\S+) · Σweight (\S+)", "".join(panel_lines(app, panel)))
        assert shown_as(m.group(1), scores.max())
        assert shown_as(m.group(2), np.exp(scores - scores.max()).sum())
        assert m.group(3) == f"{float(probe.attention[1, 1, 2].astype(np.float64).sum()):.6f}" == "1.000000"
        await keys(pilot, "comma", "comma", "comma")  # round the start
        assert panel.border_title.startswith("Attention · query 7 ")
        await keys(pilot, "a")  # all heads: the row stays one head's, and says so
        assert "all heads: the row of head 2" in screen_text(app) and "head 2/2" in panel.border_subtitle
        check_row(app, probe, 1, 1, 7)
        await keys(pilot, "c")
        assert panel.border_title == "Attention" and "score" not in "".join(panel_lines(app, panel))
        assert "all 2 heads" in panel.border_subtitle


async def test_a_causal_row_masks_the_keys_after_the_query_and_an_unknown_target_has_no_loss(text_file):
    app = make_lab("--task", "text", "--data", "t.txt", "--seq-len", "8", *SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "s")
        await keys(pilot, "c", "full_stop", "full_stop")
        probe = app.query_one(AttentionPanel).probe
        rows = row_cells(app)
        assert check_row(app, probe, app.view.layer, 0, 2) == 8
        for j in range(8):
            assert (rows[j][1] == "-inf") == (rows[j][2] == "-inf") == (j > 2)
            assert (rows[j][4] == "0") == (j > 2)
        await keys(pilot, "t", *"the", "enter")  # the next character after 'e' is unknown
        lines = panel_lines(app, app.query_one(InspectorPanel))
        last = next(line for line in lines if re.match(r"\s*2 ", line))
        assert re.search(r"\s-\s", last) and "✓" not in last and "✗" not in last
        await keys(pilot, "l")
        last = next(line for line in panel_lines(app, app.query_one(InspectorPanel)) if re.match(r"\s*2 ", line))
        assert " - " in last and "✓" not in last and "✗" not in last


async def test_a_knocked_out_head_still_has_its_row_and_says_so():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "n", "k")
        await keys(pilot, "c", "l")
        panel = app.query_one(AttentionPanel)
        assert panel.probe.knockout == (1, 0)
        assert "(knocked out: its output is not used)" in screen_text(app)
        check_row(app, panel.probe, 1, 0, 0)
        assert app.query_one(InspectorPanel).probe is panel.probe  # the lens of the model without the head
        check_lens(app, panel.probe, 2)
        await keys(pilot, "h")
        assert "knocked out" not in screen_text(app)


async def test_under_replay_both_modes_show_the_epochs_numbers():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n", "n")
        await keys(pilot, "left", "left", "c", "l")
        assert app.view.epoch == 1
        probe = app.history.get(1).probe
        assert probe is not app.scene.live_probe
        assert app.query_one(AttentionPanel).probe is app.query_one(InspectorPanel).probe is probe
        for size in ((80, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            check_row(app, probe, 1, 0, 0)
            check_lens(app, probe, 2)
            assert "epoch 1 of 2 (replay)" in app.query_one(InspectorPanel).border_subtitle


async def test_typed_sequences_get_the_lens_and_the_row():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "n")
        await keys(pilot, "c", "comma", "l")  # query 7
        await keys(pilot, "t", "3", "space", "9", "space", "1", "enter")
        inspector, attention = app.query_one(InspectorPanel), app.query_one(AttentionPanel)
        assert list(inspector.probe.tokens) == [3, 9, 1]
        assert inspector.border_subtitle.startswith("logit lens (typed)")
        check_lens(app, inspector.probe, 2)
        assert attention.border_title == "Attention · query 1 '9'"  # query 7 of a sequence of 3
        check_row(app, attention.probe, 1, 0, 1)


async def test_a_probe_that_is_not_finite_draws_without_an_error():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        probe = app.scene.live_probe
        broken = replace(probe, probs=probe.probs * np.nan, lens=probe.lens * np.nan,
                         attention=probe.attention * np.nan, scores=probe.scores * np.nan)  # fmt: skip
        app.scene.live_probe = broken
        for view_keys in (["c", "l"], ["full_stop", "a"], ["c", "l"]):
            await keys(pilot, *view_keys)
            app.redraw()
            await settle(pilot)
            assert app.query_one(InspectorPanel).probe is broken and app.query_one(AttentionPanel).probe is broken
