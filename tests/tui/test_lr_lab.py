"""The lab's learning-rate keys (- halves, + and = double) and its best file and --patience,
driven as a user drives them; and the session's best-file writes, which say a failure once."""

import json

import numpy as np
import pytest

from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError
from tfnp_tui.messages import Progress, Saved, Stopped
from tfnp_tui.widgets.status import StatusLine

from .lab import make_lab, press, screen_text, settle, tap
from .test_best import WOBBLY, capture
from .test_session import of, session

SIZE = (120, 40)
SMALL = ["--samples", "40", "--val-samples", "10", "--batch-size", "4"]


async def test_the_rate_keys_change_the_rate_the_status_line_the_metrics_and_replay(tmp_path):
    metrics = tmp_path / "m.jsonl"
    app = make_lab(*SMALL, "--epochs", "50", "--metrics-out", str(metrics))
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusLine)
        await press(pilot, "minus")
        assert app.trainer.lr_scale == 0.5 and (status.lr, status.lr_scale) == (0.005, 0.5)
        assert "sgd lr 5.0e-03 ×1/2" in screen_text(app) and "from the next step on" in status.message
        await press(pilot, "n")  # an epoch at half the rate
        assert [(r.lr, r.lr_scale) for r in app.history.reports] == [(0.005, 0.5)]
        await press(pilot, "plus", "equals_sign")  # ×2 twice: 1/2 -> 2
        assert app.trainer.lr_scale == 2.0 and "sgd lr 2.0e-02 ×2" in screen_text(app)
        await press(pilot, "n")
        assert app.history.reports[-1].lr == 0.02
        await press(pilot, "left")  # replay: each epoch with its rate
        assert "replaying epoch 2 of 2 (lr 2.0e-02 ×2)" in status.message
        await press(pilot, "left")
        assert "replaying epoch 1 of 2 (lr 5.0e-03 ×1/2)" in status.message
        await pilot.press(*["minus"] * 12)  # 2 -> 1/1024 in 11 halvings; the 12th is refused
        await settle(pilot)
        assert app.trainer.lr_scale == 2**-10 and status.lr_scale == 2**-10
        assert status.severity == "warning" and "stays ×1/1024 the schedule's: the keys go from ×1/1024 to ×1024" in (
            status.message
        )
        await pilot.resize_terminal(80, 24)  # narrow: the factor is still said
        await settle(pilot)
        assert "lr 9.8e-06 ×1/1024" in screen_text(app).splitlines()[0]
    lines = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [(r["lr"], r["lr_scale"]) for r in lines if "epoch" in r] == [(0.005, 0.5), (0.02, 2.0)]


async def test_the_lab_keeps_the_best_epoch_and_pauses_when_patience_runs_out(tmp_path, monkeypatch):
    seen = capture(monkeypatch)
    save = tmp_path / "run.npz"
    app = make_lab(*WOBBLY[1:], "--epochs", "30", "--patience", "2", "--save", str(save))
    async with app.run_test(size=SIZE) as pilot:
        await tap(pilot, "space")
        for _ in range(500):
            await pilot.pause(0.02)
            if not app.session.running:
                break
        await settle(pilot)
        status = app.query_one(StatusLine)
        losses = [loss for _, loss, _ in seen]
        since = [e - (int(np.argmin(losses[:e])) + 1) for e in range(1, len(losses) + 1)]
        stop, best = len(losses), int(np.argmin(losses)) + 1
        assert since.index(2) + 1 == stop < 30 and app.trainer.epoch == stop
        assert not status.running and status.severity == "information"
        assert status.message.startswith(f"stopped early: no new best val_loss for 2 epochs (--patience 2); "
                                         f"the best was epoch {best}")  # fmt: skip
        kept = checkpoint.load(tmp_path / "run.best.npz")
        assert kept.position["epoch"] == best
        for name, p in seen[best - 1][2].items():
            assert np.array_equal(kept.params[name], p), name
        await press(pilot, "r", "y")  # a fresh model writes none of the run before's files
        assert app.save_path == str(tmp_path / "run-2.npz")
        assert app.session.best_file.path == str(tmp_path / "run-2.best.npz")
        assert status.lr_scale == 1.0


def test_the_session_writes_each_new_best_and_says_a_failure_once(tmp_path, monkeypatch):
    import tfnp_tui.best_file as best_file

    s, posted = session(*SMALL, "--epochs", "5", "--save", str(tmp_path / "run.npz"))
    s.epoch()
    s.join()
    assert checkpoint.load(tmp_path / "run.best.npz").position["epoch"] == 1

    def full(path, arrays):
        raise CheckpointError(f"{path}: cannot write the checkpoint (No space left on device)")

    monkeypatch.setattr(best_file, "write_atomic", full)
    for _ in range(2):  # two more new bests (plain SGD goes down): one failure, said once
        s.epoch()
        s.join()
    ends = [e for m in of(Progress, posted) for e in m.epochs]
    assert [e.new_best for e in ends] == [True, True, True]  # two writes tried after the first
    failures = [m.error for m in of(Saved, posted)]
    assert len(failures) == 1 and "run.best.npz: cannot write" in failures[0] and "no longer kept" in failures[0]
    assert s.trainer.best.epoch == 3 and not of(Stopped, posted)
    assert checkpoint.load(tmp_path / "run.best.npz").position["epoch"] == 1  # as it was


def test_the_session_refuses_a_rate_past_the_limits_and_keeps_it():
    s, _ = session(*SMALL)
    assert s.scale_lr(0.5) == (0.5, 0.005)
    s.trainer.lr_scale = 1024.0
    with pytest.raises(ValueError, match="between 1/1024 and 1024"):
        s.scale_lr(2)
    assert s.trainer.lr_scale == 1024.0


async def test_the_rate_keys_answer_while_the_trainer_is_busy():
    """The lock is held for a whole step or epoch end: - and + do not wait for it."""
    app = make_lab(*SMALL)
    async with app.run_test(size=SIZE) as pilot:
        with app.session.lock:  # as during a long step
            await pilot.press("minus")
            await pilot.pause()
            assert app.trainer.lr_scale == 0.5 and app.query_one(StatusLine).lr_scale == 0.5
        await press(pilot, "s")  # the step reads the factor once: its report says the rate it used
        assert app.trainer.step_count == 1 and app.query_one(StatusLine).lr == 0.005


async def test_a_loaded_run_that_stopped_for_patience_says_so(tmp_path, monkeypatch, capsys):
    from .test_best import run as headless

    save = tmp_path / "run.npz"
    seen = capture(monkeypatch)
    assert headless([*WOBBLY, "--epochs", "30", "--patience", "2", "--save", str(save)], capsys)[0] == 0
    losses = [loss for _, loss, _ in seen]
    best = int(np.argmin(losses)) + 1
    app = make_lab("--load", str(save))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = app.query_one(StatusLine).message
        assert f"loaded {save} at step" in message and "it stopped early" in message
        assert f"the best was epoch {best}" in message
