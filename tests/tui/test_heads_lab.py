"""The Heads table and the knock-out in the lab, driven by keys: o shows the table, k leaves
the shown head out of everything the lab analyses (never out of training), and what the
lab shows then equals a model whose output-projection rows for that head are zero."""

import numpy as np
import pytest

from engine import Trainer
from engine.analysis.readout import analyze
from tests.engine.test_heads import loss_and_acc, without_head
from tfnp_tui.widgets.attention import AttentionPanel
from tfnp_tui.widgets.heads import HeadsPanel

from .lab import REVERSE, make_lab, press, screen_text

SIZES = [(120, 40), (80, 24)]


async def test_o_shows_every_head_and_its_history_live_and_under_replay():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZES[0]) as pilot:
        await press(pilot, "n", "n", "o")
        assert app.query_one(HeadsPanel).display and not app.query_one(AttentionPanel).display
        live = app.scene.live_inside.heads.get(1, 0)
        for size, names in zip(SIZES, [("L1 H1", "L1 H2", "L2 H1", "L2 H2"), ("L1H1", "L1H2", "L2H1", "L2H2")]):
            await pilot.resize_terminal(*size)
            await press(pilot)
            text = screen_text(app)
            assert all(name in text for name in names) and f"{live.entropy_bits:.2f}" in text
        await press(pilot, "left", "left")  # epoch 1: its own figures
        first = app.history.get(1).inside.heads.get(1, 0)
        assert f"{first.entropy_bits:.2f}" in screen_text(app) and "epoch 1 of 2" in screen_text(app)
        await press(pilot, "o")
        assert app.query_one(AttentionPanel).display and not app.query_one(HeadsPanel).display


async def test_the_heads_table_measures_the_probe_batch_as_the_engine_does():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "n", "o")
        report = app.history.get(1).inside.heads
        model = app.trainer.model
        tokens, targets = (
            app.trainer.task.val_tokens[: report.sequences],
            app.trainer.task.val_targets[: report.sequences],
        )
        for h in report.heads:
            knocked = without_head(model, h.layer, h.head).forward(tokens)[0].astype(np.float64)
            assert (h.val_loss, h.val_acc) == pytest.approx(loss_and_acc(knocked, targets), rel=1e-4)
        assert f"on {report.sequences} validation sequences" in screen_text(app)


async def test_k_knocks_the_shown_head_out_of_the_analysis_only():
    app = make_lab(*REVERSE)
    async with app.run_test(size=SIZES[1]) as pilot:
        await press(pilot, "n", "left_square_bracket", "k")  # layer 1, head 1 out
        assert app.view.knocked == (0, 0) and app.session.knockout == (0, 0)
        assert "✕ L1 H1 out" in screen_text(app)
        model, task = app.trainer.model, app.trainer.task
        # the inspector and the later layer's attention show the model without the head
        reference = analyze(without_head(model, 0, 0), task.probe()[0])
        probe = app.scene.live_probe
        np.testing.assert_allclose(probe.probs, reference.probs[0], atol=1e-6)
        np.testing.assert_allclose(probe.attention[1], reference.attention[1, 0], atol=1e-6)
        # the validation figures without it, said on the status line
        val_loss, val_acc = loss_and_acc(without_head(model, 0, 0).forward(task.val_tokens)[0].astype(np.float64),
                                         task.val_targets)  # fmt: skip
        assert f"val acc {val_acc:.1%}" in screen_text(app)  # at 80x24 too
        await pilot.resize_terminal(*SIZES[0])
        await press(pilot)
        assert "✕ L1 H1 out (analysis only)" in screen_text(app) and "training uses every head" in screen_text(app)
        # training is never changed by it: the same parameters as a run with no lab at all
        await press(pilot, "n")
        alone = Trainer(app.trainer.model_cfg, app.trainer.train_cfg, task=task)
        alone.run_epoch(), alone.run_epoch()
        np.testing.assert_array_equal(app.trainer.model.flat, alone.model.flat)
        await press(pilot, "k")
        assert app.view.knocked is None and app.session.knockout is None
        np.testing.assert_array_equal(app.scene.live_probe.probs, app.trainer.probe().probs)


async def test_a_replayed_epoch_shows_its_own_probe_without_the_knocked_out_head():
    app = make_lab(*REVERSE)
    async with app.run_test(size=(120, 40)) as pilot:
        await press(pilot, "n", "n", "k", "left", "left")
        epoch = app.history.get(1)
        frame = app.scene.frame()
        assert frame.probe is epoch.inside.knocked[(1, 0)]
        assert frame.probe.knockout == (1, 0)
        await press(pilot, "k")
        assert app.scene.frame().probe is epoch.probe
