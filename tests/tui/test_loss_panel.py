"""The Loss panel driven as a user drives it: --compare's runs beside this one, smoothing (m)
and the log/linear axis (y), the marks where the learning rate changed, and the earlier
epochs after --load. What the panel draws (its Chart) is checked against the files, the
reports and a moving average computed here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.text import Text

from engine.training.reports import StepReport
from tfnp_tui.cli import build, build_parser, run
from tfnp_tui.messages import Progress
from tfnp_tui.widgets.curves import color_of
from tfnp_tui.widgets.loss import TRAIN_COLOR, TRAIN_FAINT, VAL_COLOR, LossPanel
from tfnp_tui.widgets.plot import Chart, Line, Mark, PlotextPlot, build_figure

from .lab import make_lab, press, screen_text, settle
from .metrics_files import header, records, write

# reverse, 10 steps an epoch (320 sequences of 32), in float64: quick, and the same numbers every time
SMALL = ["--task", "reverse", "--seq-len", "6", "--samples", "320", "--val-samples", "32", "--batch-size", "32",
         "--dtype", "float64"]  # fmt: skip


def ema_of(values, beta: float) -> list[float]:
    """The moving average, written out: e_1 = x_1, e_t = beta e_(t-1) + (1 - beta) x_t."""
    out, e = [], None
    for v in values:
        e = v if e is None else beta * e + (1 - beta) * v
        out.append(e)
    return out


def chart_of(app) -> Chart:
    return app.query_one(LossPanel).query_one(PlotextPlot).chart


def lines_in(chart: Chart, color: int, dots: bool = False) -> list[Line]:
    """The chart's lines of one colour: those with a dot a value (validation) or the others."""
    return [line for line in chart.lines if line.color == color and line.points == dots]


def epoch_records(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if "epoch" in r]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_compared_runs_are_drawn_per_epoch_beside_this_one_and_m_and_y_toggle(size):
    adam = write("adam.jsonl", header(), records(8))
    sgd = write("sgd.jsonl", header(train={"optimizer": "sgd", "lr": 0.1}), records(6, 3.2, rate=0.2, scales={4: 0.5}))
    app = make_lab(*SMALL, "--compare", adam, "--compare", sgd)
    async with app.run_test(size=size) as pilot:
        await press(pilot, "n", "n")
        panel, chart = app.query_one(LossPanel), chart_of(app)
        assert panel.border_title == "Loss per epoch" and chart.log_y
        ours = list(app.history.reports)
        runs = [([r.epoch for r in ours], [r.loss for r in ours], [r.val_loss for r in ours])]
        for path in (adam, sgd):
            recs = epoch_records(path)
            runs.append(([r["epoch"] for r in recs], [r["loss"] for r in recs], [r["val_loss"] for r in recs]))
        for i, (epochs, train, val) in enumerate(runs):  # each run in its own colour, its own figures
            (dots,), (line,) = lines_in(chart, color_of(i)[0], dots=True), lines_in(chart, color_of(i)[0])
            assert list(dots.x) == epochs and list(dots.y) == val
            assert list(line.x) == epochs and list(line.y) == train
        assert Mark(3, "lr ×1/2", color_of(2)[0]) in chart.marks  # sgd's rate halved during epoch 4
        text = screen_text(app)
        assert "this run" in text and "adam 1e-3" in text and "sgd 1e-1" in text
        if size == (120, 40):
            assert "adam 1e-3 · L1 H1 C32" in text and "lr ×1/2" in text

        await press(pilot, "m")
        chart = chart_of(app)
        assert panel.border_title == "Loss per epoch · smoothed"
        for i, (_, train, _) in enumerate(runs):
            bright, faint = color_of(i)
            (raw,), (smooth,) = lines_in(chart, faint), lines_in(chart, bright)
            assert list(raw.y) == train and np.allclose(smooth.y, ema_of(train, 0.6), rtol=1e-12, atol=0)
        await press(pilot, "y")
        assert not chart_of(app).log_y and panel.border_title == "Loss per epoch · smoothed · linear"
        await press(pilot, "m", "y")
        chart = chart_of(app)
        assert chart.log_y and panel.border_title == "Loss per epoch" and not lines_in(chart, color_of(0)[1])


async def test_smoothing_over_the_steps_draws_the_moving_average_over_the_raw_curve():
    setup = build(build_parser().parse_args(SMALL))  # the same run, stepped here
    losses = [setup.trainer.step().loss for _ in range(20)]
    app = make_lab(*SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n", "n")
        (train,) = lines_in(chart_of(app), TRAIN_COLOR)
        assert list(train.x) == list(range(1, 21)) and list(train.y) == losses  # one point a step here
        await press(pilot, "m")
        chart = chart_of(app)
        (raw,), (smooth,) = lines_in(chart, TRAIN_FAINT), lines_in(chart, TRAIN_COLOR)
        assert list(raw.y) == losses and list(smooth.x) == list(range(1, 21))
        assert np.allclose(smooth.y, ema_of(losses, 0.98), rtol=1e-12, atol=0)
        assert chart.lines.index(raw) < chart.lines.index(smooth)  # the raw curve behind
        assert "smoothed" in app.query_one(LossPanel).border_title
        await press(pilot, "left", "left")  # replay epoch 1: the average as it stood then
        (smooth,) = lines_in(chart_of(app), TRAIN_COLOR)
        assert np.allclose(smooth.y, ema_of(losses[:10], 0.98), rtol=1e-12, atol=0)
        await press(pilot, "y")
        assert not chart_of(app).log_y and "linear" in screen_text(app)


async def test_m_and_y_bring_the_loss_panel_forward_over_the_views_of_its_slot():
    """The embedding space (e) and the samples (x) share the Loss panel's slot: m or y shows
    the panel again, with the view turned off (the embeddings stop being probed)."""
    app = make_lab(*SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        loss = app.query_one(LossPanel)
        for view, key, back in (("embeddings", "e", "m"), ("samples", "x", "y"), ("embeddings", "e", "y")):
            await press(pilot, key)
            assert getattr(app.view, view) and not loss.display
            await press(pilot, back)
            assert not getattr(app.view, view) and loss.display
            assert not app.session.spaces
        await press(pilot, "e", "x")  # one view of the slot turns the other off
        assert app.view.samples and not app.view.embeddings and not app.session.spaces


def progress(app, first: int, n: int, scale: float, final: bool = False) -> Progress:
    """A report of steps first..first+n-1 trained at `scale` times the schedule's rate."""
    last = first + n - 1
    step = StepReport(step=last, epoch=(last - 1) // 10 + 1, loss=1.0, acc=0.5, lr=1e-3 * scale, grad_norm=1.0,
                      grad_norms={}, update_ratios={}, lr_scale=scale)  # fmt: skip
    return Progress(app.session.generation, step, [2.0 - 0.01 * i for i in range(first, last + 1)], final=final)


async def test_a_learning_rate_change_is_marked_at_its_step():
    """Reports built here: halved from step 11, doubled back from step 21."""
    app = make_lab(*SMALL, "--compare", write("other.jsonl", header(), records(3)))
    async with app.run_test(size=(120, 40)) as pilot:
        for first, scale in ((1, 1.0), (11, 0.5), (21, 1.0)):
            app.post_message(progress(app, first, 10, scale))
        app.post_message(progress(app, 31, 5, 1.0, final=True))
        await settle(pilot)
        panel = app.query_one(LossPanel)
        assert [(c.step, c.epoch, c.label) for c in panel.changes] == [(11, 1.0, "lr ×1/2"), (21, 2.0, "lr ×2")]
        marks = chart_of(app).marks  # on the epoch axis: after 1 and 2 epochs of 10 steps
        assert Mark(1.0, "lr ×1/2", color_of(0)[0]) in marks and Mark(2.0, "lr ×2", color_of(0)[0]) in marks


async def test_a_change_during_epoch_1_is_drawn_on_the_epoch_axis():
    """Halved from step 5 of 10, before any epoch ended: the mark is at 0.4 epochs, and the
    axis starts at 0 so that it is drawn (its label on the screen, its dotted line in the plot)."""
    app = make_lab(*SMALL, "--compare", write("other.jsonl", header(), records(3)))
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(progress(app, 1, 4, 1.0))
        app.post_message(progress(app, 5, 6, 0.5, final=True))
        await settle(pilot)
        assert Mark(0.4, "lr ×1/2", color_of(0)[0]) in chart_of(app).marks
        assert chart_of(app).x_from == 0
        plot = app.query_one(LossPanel).query_one(PlotextPlot).render().plain
        assert "lr ×1/2" in plot and "┊" in plot
        assert "lr ×1/2" in screen_text(app)


def test_a_mark_before_the_first_plotted_step_widens_the_axis_to_it():
    """Averaged per column, the curve's first point is a column's last step: a change at step 1
    (made while paused, before training) lies left of it and is drawn all the same."""
    line = Line([10, 20, 30, 40], [2.0, 1.5, 1.2, 1.0], TRAIN_COLOR)
    plot = Text.from_ansi(build_figure(Chart((line,), (Mark(1, "lr ×1/2"),)), 60, 12)).plain
    assert "lr ×1/2" in plot and "┊" in plot


async def test_the_keys_change_the_rate_and_the_panel_marks_it_live_and_under_replay():
    app = make_lab(*SMALL)
    async with app.run_test(size=(80, 24)) as pilot:
        await press(pilot, "n", "minus", "n")
        assert Mark(11, "lr ×1/2") in chart_of(app).marks  # the first step of epoch 2
        assert "lr ×1/2" in screen_text(app)
        await press(pilot, "left", "left")  # epoch 1: before the change
        assert not chart_of(app).marks
        await press(pilot, "right")
        assert Mark(11, "lr ×1/2") in chart_of(app).marks


async def test_after_load_the_loss_panel_starts_with_the_runs_earlier_epochs():
    assert run(["--headless", *SMALL, "--epochs", "2", "--save", "c.npz", "--metrics-out", "m.jsonl"]) == 0
    earlier = epoch_records("m.jsonl")
    app = make_lab("--load", "c.npz", "--metrics-out", "m.jsonl", "--epochs", "3")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chart = chart_of(app)
        (val,) = lines_in(chart, VAL_COLOR, dots=True)
        assert list(val.x) == [10, 20] and list(val.y) == [r["val_loss"] for r in earlier]
        (train,) = [line for line in lines_in(chart, TRAIN_COLOR) if len(line.x)]
        assert list(train.x) == [10, 20] and list(train.y) == [r["loss"] for r in earlier]
        assert Mark(20, "loaded") in chart.marks
        await press(pilot, "n")
        chart = chart_of(app)
        (val,) = lines_in(chart, VAL_COLOR, dots=True)
        assert list(val.x) == [10, 20, 30] and val.y[-1] == app.history.reports[-1].val_loss
        old, new = lines_in(chart, TRAIN_COLOR)
        assert list(old.x) == [10, 20] and list(new.x) == list(range(21, 31))
        assert "loaded" in screen_text(app)
