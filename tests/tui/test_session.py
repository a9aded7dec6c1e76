"""The training session without a screen: driven by calls, answering only with messages."""

from tfnp_tui.cli import build, build_parser
from tfnp_tui.messages import GradcheckDone, Probed, Progress, RunState, Saved, ToolFailed
from tfnp_tui.session import TrainingSession


def session(*argv: str) -> tuple[TrainingSession, list]:
    posted: list = []
    return TrainingSession(build(build_parser().parse_args(list(argv))), posted.append), posted


def of(kind, posted: list) -> list:
    return [m for m in posted if isinstance(m, kind)]


def test_step_epoch_and_reset_are_told_by_messages():
    s, posted = session("--samples", "8", "--val-samples", "4", "--batch-size", "4")
    s.step()
    s.join()
    assert s.trainer.step_count == 1 and [m.step.step for m in of(Progress, posted)] == [1]
    assert [m.running for m in of(RunState, posted)] == [True, False] and not s.running
    s.epoch()
    s.join()
    last = of(Progress, posted)[-1]
    assert s.trainer.epoch == 1 and last.final and last.epochs and last.epochs[-1].epoch == 1
    s.reset()
    assert s.generation == 1 and s.trainer.step_count == 0


def test_probe_gradcheck_and_save_in_the_background(tmp_path):
    s, posted = session()
    s.probe()
    s.gradcheck()
    s.save(str(tmp_path / "c.npz"))
    s.join()
    assert of(Probed, posted)[0].probe.tokens.shape == (4,)
    assert of(GradcheckDone, posted)[0].report.passed
    assert of(Saved, posted)[0].error is None and (tmp_path / "c.npz").exists()
    assert s.leave(str(tmp_path / "c.npz"), save=False) is None  # nothing trained since that save


def test_a_run_stops_when_paused_and_a_stale_generation_posts_nothing_new():
    s, posted = session("--epochs", "1000")
    s.run()
    while s.trainer.step_count < 5:
        pass
    s.reset()  # pauses; the old thread's last report carries the old generation
    s.join()
    assert not s.running and all(m.generation == 0 for m in of(Progress, posted))
    assert s.generation == 1


def test_the_way_out_waits_for_a_save_under_way(tmp_path):
    s, posted = session("--d-model", "256", "--d-ff", "1024", "--layers", "4")
    s.step()
    s.join()
    s.save(str(tmp_path / "w.npz"))  # w, then q at once
    assert s.leave(str(tmp_path / "w.npz"), save=False) is None  # the save finished and counts
    assert (tmp_path / "w.npz").exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_tool_that_fails_says_so(monkeypatch):
    s, posted = session()

    def broken(*args):
        raise MemoryError("no room for the probe")

    monkeypatch.setattr(s.trainer, "probe", broken)
    s.probe()
    s.join()
    assert [m.reason for m in of(ToolFailed, posted)] == ["probe failed: MemoryError: no room for the probe"]
