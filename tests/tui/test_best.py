"""--headless's best file and --patience: the file beside --save holds exactly the epoch with
the lowest validation loss, written atomically and only at new bests; --patience stops at the
right epoch; a user's file is never replaced; a diverging run leaves the file as it was. And a
checkpoint's learning-rate factor goes on in a resumed run."""

import json
import math

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError
from engine.training.trainer import Trainer
from tfnp_tui.numbers import loss_text

from .test_cli import FAST, epochs, run

# Adam at 0.1 on a small next task: the validation loss goes up and down, so some epochs are no new best
WOBBLY = ["--headless", "--samples", "40", "--val-samples", "10", "--batch-size", "4", "--optimizer", "adam",
          "--lr", "0.1"]  # fmt: skip


def capture(monkeypatch) -> list:
    """(epoch, val_loss, parameters) at each epoch's end, as the run goes."""
    real, seen = Trainer.step, []

    def step(self, report=True):
        report = real(self, report)
        if report is not None and report.epoch_report is not None:
            seen.append((report.epoch_report.epoch, report.epoch_report.val_loss, self.model.params_numpy()))
        return report

    monkeypatch.setattr(Trainer, "step", step)
    return seen


def spy_on_writes(monkeypatch) -> list:
    """(path, epoch) of each write of the best file, which must go through write_atomic."""
    import tfnp_tui.best_file as best_file

    real, calls = best_file.write_atomic, []

    def write(path, arrays):
        calls.append((str(path), json.loads(str(arrays["meta.json"]))["position"]["epoch"]))
        return real(path, arrays)

    monkeypatch.setattr(best_file, "write_atomic", write)
    return calls


def new_bests(losses: list[float]) -> list[int]:
    """The 1-based epochs whose loss is below every earlier one."""
    return [i + 1 for i, loss in enumerate(losses) if loss < min(losses[:i], default=math.inf)]


def test_the_best_file_holds_the_epoch_with_the_lowest_validation_loss(tmp_path, capsys, monkeypatch):
    seen, writes = capture(monkeypatch), spy_on_writes(monkeypatch)
    save, best_file = tmp_path / "run.npz", tmp_path / "run.best.npz"
    status, out, err = run([*WOBBLY, "--epochs", "9", "--save", str(save)], capsys)
    assert status == 0, err
    losses = [loss for _, loss, _ in seen]
    best = int(np.argmin(losses)) + 1
    assert best < len(losses) == 9 and len(new_bests(losses)) < 9  # a run where the best file is not --save
    assert writes == [(str(best_file), e) for e in new_bests(losses)]  # atomically, at each new best only
    kept = checkpoint.load(best_file)
    assert kept.position["epoch"] == best and kept.position["best"]["val_loss"] == losses[best - 1]
    for name, p in seen[best - 1][2].items():
        assert np.array_equal(kept.params[name], p), name
    assert not np.array_equal(checkpoint.load(save).params["embed"], kept.params["embed"])
    assert f"best epoch {best} (val_loss {loss_text(losses[best - 1])}, kept in {best_file})" in out
    marked = [int(line.split()[1].split("/")[0]) for line in out.splitlines() if line.endswith("  best")]
    assert marked == new_bests(losses)
    assert not list(tmp_path.glob(".*.tmp"))


def test_patience_stops_after_n_epochs_without_a_new_best(tmp_path, capsys, monkeypatch):
    seen, writes = capture(monkeypatch), spy_on_writes(monkeypatch)
    save, metrics = tmp_path / "run.npz", tmp_path / "m.jsonl"
    argv = [*WOBBLY, "--epochs", "30", "--patience", "2", "--save", str(save), "--metrics-out", str(metrics)]
    status, out, err = run(argv, capsys)
    assert status == 0, err
    losses = [loss for _, loss, _ in seen]
    since = [e - (int(np.argmin(losses[:e])) + 1) for e in range(1, len(losses) + 1)]  # epochs since the best
    stop, best = len(losses), int(np.argmin(losses)) + 1
    assert since.index(2) + 1 == stop < 30  # the first epoch where patience ran out, and no later
    assert (f"stopped early at epoch {stop}: no new best val_loss for 2 epochs (--patience 2); "
            f"the best was epoch {best} (val_loss {loss_text(losses[best - 1])})") in out  # fmt: skip
    assert f"done: {stop} epochs" in out and f"best epoch {best} " in out
    assert [r["epoch"] for r in epochs(metrics)] == list(range(1, stop + 1))
    assert checkpoint.load(tmp_path / "run.best.npz").position["epoch"] == best

    again = ["--headless", "--load", str(save), "--save", str(save), "--epochs", "30"]
    status, out, _ = run([*again, "--patience", "2"], capsys)  # would stop at once: says so
    assert status == 0 and "stopped early: no new best val_loss for 2 epochs" in out and "raise --patience" in out
    assert len(seen) == stop  # nothing trained
    status, out, _ = run([*again, "--patience", "3"], capsys)  # one more epoch to find a new best
    assert status == 0 and len(seen) > stop
    losses = [loss for _, loss, _ in seen]  # both runs': the resumed one goes on bit-identically
    assert [epoch for _, epoch in writes] == new_bests(losses)  # the resumed run wrote only to beat the best
    assert checkpoint.load(tmp_path / "run.best.npz").position["epoch"] == int(np.argmin(losses)) + 1


def test_patience_works_without_save(capsys):
    status, out, err = run([*WOBBLY, "--epochs", "30", "--patience", "1"], capsys)
    assert status == 0, err
    assert "stopped early at epoch" in out and "kept in" not in out


def test_a_file_of_the_users_at_the_best_name_is_refused_and_left_alone(tmp_path, capsys):
    save, mine = tmp_path / "run.npz", tmp_path / "run.best.npz"
    mine.write_text("my own file")
    status, out, err = run([*FAST, "--save", str(save)], capsys)
    assert status == 2 and err.count("\n") == 1 and "epoch" not in out  # refused before training
    assert f"{mine} already exists and this run did not make it" in err and "--overwrite" in err
    assert mine.read_text() == "my own file" and not save.exists()
    assert run([*FAST, "--epochs", "1", "--save", str(save), "--overwrite"], capsys)[0] == 0  # as asked
    assert checkpoint.load(mine).position["epoch"] == 1
    status, _, err = run(["--headless", "--load", str(save), "--save", str(save), "--epochs", "2"], capsys)
    assert status == 0, err  # going on from --save: the best file beside it is the run's own


def test_a_diverging_run_leaves_the_best_file_as_it_was(tmp_path, capsys):
    save, best = tmp_path / "run.npz", tmp_path / "run.best.npz"
    assert run([*FAST, "--save", str(save)], capsys)[0] == 0
    kept = best.read_bytes()
    status, _, err = run(["--headless", "--load", str(save), "--save", str(save), "--epochs", "6", "--lr", "1e35"],
                         capsys)  # fmt: skip
    assert status == 2 and "training diverged" in err
    assert best.read_bytes() == kept
    status, _, _ = run([*FAST, "--lr", "1e35", "--save", str(tmp_path / "new.npz")], capsys)
    assert status == 2 and not (tmp_path / "new.best.npz").exists()  # a fresh run that diverges writes none


def test_a_best_file_that_cannot_be_written_is_one_line_and_keeps_the_training(tmp_path, capsys, monkeypatch):
    import tfnp_tui.best_file as best_file

    def full(path, arrays):
        raise CheckpointError(f"{path}: cannot write the checkpoint (No space left on device)")

    monkeypatch.setattr(best_file, "write_atomic", full)
    status, _, err = run([*FAST, "--save", str(tmp_path / "run.npz")], capsys)
    assert status == 2 and err.count("\n") == 1 and "run.best.npz: cannot write the checkpoint" in err
    assert checkpoint.load(tmp_path / "run.npz").position["step"] == 10  # the epoch trained is kept


def test_a_checkpoint_s_learning_rate_factor_goes_on_unless_a_rate_is_typed(tmp_path, capsys):
    trainer = Trainer(ModelConfig(), TrainConfig(samples=40, val_samples=10, batch_size=4, epochs=3))
    trainer.lr_scale = 0.5
    trainer.run_epoch()
    checkpoint.save(tmp_path / "half.npz", trainer)
    status, out, err = run(["--headless", "--load", str(tmp_path / "half.npz"), "--epochs", "2"], capsys)
    assert status == 0, err
    assert "sgd lr 1.0e-02 ×1/2" in out and "epoch 2/2" in out and "lr 5.0e-03 ×1/2" in out
    status, out, err = run(["--headless", "--load", str(tmp_path / "half.npz"), "--epochs", "2", "--lr", "0.02"],
                           capsys)  # fmt: skip
    assert status == 0, err
    assert "×1/2" not in out and "lr 2.0e-02" in out


@pytest.mark.parametrize("name, best", [("run.npz", "run.best.npz"), ("a/b.c.ckpt", "a/b.c.best.ckpt"),
                                        ("noext", "noext.best.npz")])  # fmt: skip
def test_the_best_file_s_name(name, best):
    from tfnp_tui.files import best_path

    assert best_path(name) == best


def test_the_summary_names_a_best_file_only_when_it_holds_the_best_epoch(tmp_path, capsys):
    """A run that writes its best names the file; a resumed run whose best epoch came before it
    names the file beside the checkpoint it goes on in, and never one of another run."""
    from tfnp_tui.best_file import BestFile
    from tfnp_tui.cli import build, build_parser
    from tfnp_tui.headless import kept_best

    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert run([*FAST, "--epochs", "2", "--save", str(a)], capsys)[0] == 0
    (tmp_path / "b.best.npz").write_bytes(b"another run's best")  # what --overwrite lets b's run replace

    def setup_of(*flags):
        return build(build_parser().parse_args([*FAST, "--epochs", "3", *flags]))

    elsewhere = setup_of("--load", str(a), "--save", str(b), "--overwrite")
    best = BestFile.beside(str(b))
    assert elsewhere.trainer.best.epoch > 0 and kept_best(elsewhere, best) is None  # b.best.npz is not a's best
    best.write(checkpoint.contents(elsewhere.trainer), (0, elsewhere.trainer.best.epoch))
    assert kept_best(elsewhere, best) == str(tmp_path / "b.best.npz")  # now it is: this run wrote it
    in_place = setup_of("--load", str(a), "--save", str(a))
    assert kept_best(in_place, BestFile.beside(str(a))) == str(tmp_path / "a.best.npz")
