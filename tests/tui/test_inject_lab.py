"""The lab's gradient-check box with a bug planted: b / B choose one and check again, the box
names the bug and shows the check fail; and the session keeps training off the broken engine."""

import time

from engine.bugs import BUGS, softmax_backward_no_rowsum
from engine.components import attention
from tfnp_tui import instruments
from tfnp_tui.cli import build, build_parser
from tfnp_tui.messages import GradcheckDone
from tfnp_tui.screens.gradcheck import GradcheckScreen
from tfnp_tui.session import TrainingSession

from .lab import make_lab, press, screen_text, settle

SMALL = ["--d-model", "4", "--d-ff", "4", "--heads", "2", "--vocab", "6", "--samples", "8", "--val-samples", "4"]
SIZE = (120, 40)


async def shown(pilot, *parts: str, timeout: float = 20) -> str:
    """The screen once it shows every one of parts (a check may start another when it lands)."""
    deadline = time.monotonic() + timeout
    while not all(part in (text := screen_text(pilot.app)) for part in parts):
        assert time.monotonic() < deadline, text
        await settle(pilot)
    return text


async def test_b_and_B_plant_a_bug_and_the_box_shows_the_check_fail():
    app = make_lab(*SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "g")
        assert isinstance(app.screen, GradcheckScreen)
        text = screen_text(app)
        assert "no bug planted" in text and "all 20 tensors pass" in text and "b / B" in text
        await pilot.press("b", "b")  # the second while the first bug's check runs: checked when it lands
        text = await shown(pilot, "planted bug: layernorm-no-mean", "the planted bug breaks")
        assert "FAIL" in text and "softmax" not in text
        await press(pilot, "B")
        text = screen_text(app)
        assert f"planted bug: softmax-no-rowsum (1 of {len(BUGS)})" in text
        assert "6 of 20 tensors FAIL" in text and "✗ FAIL" in text
        assert "the planted bug breaks 6 of 20 tensors: embed, layers.0.attn.wq" in text
        assert "gradient check with softmax-no-rowsum planted: 6 FAIL" in text  # the status line under the box
        assert attention.softmax_backward is not softmax_backward_no_rowsum  # taken out again
        await pilot.resize_terminal(80, 24)  # the box at the smallest size: b still plants, B goes back
        await press(pilot, "b")
        await shown(pilot, "planted bug: layernorm-no-mean", "the planted bug breaks")
        await press(pilot, "B", "B")
        assert "no bug planted" in await shown(pilot, "no bug planted", "all 20 tensors pass")


def test_no_training_step_runs_on_a_planted_bug_and_nothing_else_waits_for_it(monkeypatch):
    posted: list = []
    session = TrainingSession(build(build_parser().parse_args(SMALL)), posted.append)
    seen = []

    def check_model(*args, **kwargs):
        session.step()  # asked for while the bug is in: it waits until the bug is out
        time.sleep(0.3)
        planted = attention.softmax_backward is softmax_backward_no_rowsum
        seen.append((planted, session.trainer.step_count, session.lock.locked()))
        return real(*args, **kwargs)

    real = instruments.check_model
    monkeypatch.setattr(instruments, "check_model", check_model)
    session.gradcheck("softmax-no-rowsum")
    session.join()
    session.join()  # the training thread the check started
    assert seen == [(True, 0, False)]  # no step on the broken engine; the trainer's lock is free (reset, quit)
    assert session.trainer.step_count == 1  # the step ran once the bug was out
    assert [m.report.passed for m in posted if isinstance(m, GradcheckDone)] == [False]


def test_a_check_under_way_is_not_started_twice_but_a_reset_model_gets_its_own(monkeypatch):
    posted: list = []
    session = TrainingSession(build(build_parser().parse_args(SMALL)), posted.append)
    started = []

    def check_model(*args, **kwargs):
        started.append(True)
        time.sleep(0.3)
        return real(*args, **kwargs)

    real = instruments.check_model
    monkeypatch.setattr(instruments, "check_model", check_model)
    session.gradcheck()
    time.sleep(0.05)
    session.gradcheck()  # the same check again while the first runs: its result will do
    session.reset()
    session.gradcheck()  # another model: a check of its own
    session.join()
    assert len(started) == 2
    assert sorted(m.generation for m in posted if isinstance(m, GradcheckDone)) == [0, 1]
