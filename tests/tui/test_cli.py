"""The command line: --headless training, its files, and one clear line for every mistake."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from engine.training import checkpoint
from tfnp_tui.cli import main

FAST = ["--headless", "--samples", "40", "--val-samples", "10", "--batch-size", "4", "--epochs", "3"]


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def fail_at_step(monkeypatch, call: int, error: type[BaseException]) -> None:
    """Make the trainer's `call`-th step raise `error` (a full memory, a Ctrl+C)."""
    from engine.training.trainer import Trainer

    real_step, calls = Trainer.step, []

    def step(self, report=True):
        calls.append(1)
        if len(calls) == call:
            raise error
        return real_step(self, report)

    monkeypatch.setattr(Trainer, "step", step)


def records(path):
    """Every JSON record of a metrics file, in order."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def epochs(path):
    """The epoch records of a metrics file (the header records have no "epoch" key)."""
    return [r for r in records(path) if "epoch" in r]


def test_headless_trains_prints_a_line_per_epoch_and_a_summary(capsys):
    status, out, err = run(FAST, capsys)
    assert status == 0, err
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    assert "val_acc" in lines[0] and "done: 3 epochs, 30 steps" in out


def test_metrics_out_writes_one_json_object_per_epoch(tmp_path, capsys):
    path = tmp_path / "m.jsonl"
    status, _, err = run([*FAST, "--metrics-out", str(path)], capsys)
    assert status == 0, err
    rows = epochs(path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for key in ("epoch", "step", "loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "seconds"):
        assert key in rows[0]
    assert rows[-1]["step"] == 30


def test_save_then_load_goes_on_where_it_stopped(tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    full = tmp_path / "full.jsonl"
    assert run([*FAST, "--optimizer", "adam", "--epochs", "4", "--metrics-out", str(full)], capsys)[0] == 0
    part = tmp_path / "part.jsonl"
    assert (
        run([*FAST, "--optimizer", "adam", "--epochs", "2", "--save", str(ckpt), "--metrics-out", str(part)], capsys)[0]
        == 0
    )
    status, out, err = run(["--headless", "--load", str(ckpt), "--epochs", "4", "--metrics-out", str(part)], capsys)
    assert status == 0, err
    resumed, expected = epochs(part), epochs(full)
    assert [r["loss"] for r in resumed] == [r["loss"] for r in expected]  # bit-identical
    status, out, _ = run(["--headless", "--load", str(ckpt)], capsys)  # not saved again: still at epoch 2
    assert status == 0


def test_a_checkpoint_that_is_done_says_so(tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    assert run([*FAST, "--save", str(ckpt)], capsys)[0] == 0
    status, out, _ = run(["--headless", "--load", str(ckpt)], capsys)
    assert status == 0 and "already trained 3 epochs" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "-1"], "--lr: must be positive"),
        (["--heads", "3"], "--heads: d_model 32 is not divisible by 3 heads"),
        (["--d-model", "31"], "--d-model: must be even"),
        (["--layers", "0"], "--layers: must be a positive integer"),
        (["--layers", "x"], "argument --layers: invalid int value: 'x'"),
        (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--task", "text"], "--data: the text task needs a file"),
        (["--task", "text", "--data", "/no/such/file.txt"], "/no/such/file.txt: no such file"),
        (["--data", "x.txt"], "--data: only the text task reads a file"),
        (["--load", "/no/such.npz"], "/no/such.npz: no such file"),
        (["--save", "/no/such/dir/x.npz"], "/no/such/dir/x.npz: the folder /no/such/dir does not exist"),
        (["--metrics-out", "/"], "/: is a directory"),
        (["--samples", "10000", "--seq-len", "2", "--vocab", "5"], "only 16 distinct sequences"),
        (["--seq-len", "0"], "--seq-len: must be a positive integer, got 0"),
        (["--lr", "inf"], "--lr: must be a finite number, got inf"),
        (["--metrics-out", "/proc/m.jsonl"], "/proc/m.jsonl: cannot be written"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(argv, message, capsys):
    status, out, err = run(["--headless", *argv], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("tfnp-tui: error: ") and message in err, err
    assert "Traceback" not in err + out


def test_a_model_too_large_for_the_memory_is_refused_before_it_is_made(capsys):
    status, out, err = run(["--headless", "--d-model", "1000000"], capsys)  # 15 TB of parameters alone
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err + out
    assert re.search(r"needs about [\d,.]+ GiB to train, more than the [\d,.]+ GiB available: try a smaller", err)


def test_text_task_errors_and_a_run(tmp_path, capsys):
    data = tmp_path / "t.txt"
    data.write_bytes(b"\xff\xfe not utf-8")
    status, _, err = run(["--headless", "--task", "text", "--data", str(data)], capsys)
    assert status == 2 and "not UTF-8 text" in err
    data.write_text("the cat sat on the mat. " * 30)
    status, _, err = run(["--headless", "--task", "text", "--data", str(data), "--no-causal"], capsys)
    assert status == 2 and "--no-causal: the text task needs a causal model" in err
    status, _, err = run(["--headless", "--task", "text", "--data", str(data), "--vocab", "50"], capsys)
    assert status == 2 and "--vocab: the text task takes its vocabulary from the file (11 characters)" in err
    status, out, err = run(["--headless", "--task", "text", "--data", str(data), "--seq-len", "8", "--samples", "64",
                            "--epochs", "1"], capsys)  # fmt: skip
    assert status == 0, err
    assert "causal" in out


def test_a_flag_that_contradicts_the_checkpoint_is_named(tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    assert run([*FAST, "--epochs", "1", "--save", str(ckpt)], capsys)[0] == 0
    status, _, err = run(["--headless", "--load", str(ckpt), "--d-model", "64"], capsys)
    assert status == 2 and f"{ckpt} holds a model with d_model 32, but --d-model 64 was given" in err
    ckpt.write_bytes(b"garbage")
    status, _, err = run(["--headless", "--load", str(ckpt)], capsys)
    assert status == 2 and "not a readable tfnp checkpoint (not an .npz archive of plain arrays)" in err
    assert "pickle" not in err  # numpy's advice to load it unsafely is never passed on


def test_a_run_that_ends_before_its_first_epoch_leaves_no_metrics_file(tmp_path, capsys):
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"epoch": 1}\n')  # an earlier run's, which this one replaces
    status, _, _ = run([*FAST, "--lr", "1e35", "--metrics-out", str(metrics)], capsys)
    assert status == 2 and not metrics.exists()


def test_another_task_from_a_checkpoint_starts_a_new_run_from_its_weights(tmp_path, capsys):
    ckpt = tmp_path / "next.npz"
    assert run([*FAST, "--epochs", "1", "--save", str(ckpt)], capsys)[0] == 0
    status, out, err = run(["--headless", "--load", str(ckpt), "--task", "copy", "--optimizer", "adam",
                            "--samples", "64", "--epochs", "1"], capsys)  # fmt: skip
    assert status == 0, err
    assert "adam lr 1.0e-03" in out and "batch 32" in out  # the new task's and optimizer's defaults
    assert "done: 1 epoch, 2 steps" in out  # counted from 0, not from the checkpoint's step 10


def test_a_text_checkpoint_starts_a_synthetic_run_from_its_weights(tmp_path, capsys):
    data = tmp_path / "t.txt"
    data.write_text("abcdefghijklmnopqrst" * 20)  # 20 characters: a vocabulary of 20 like the synthetic tasks
    ckpt = tmp_path / "t.npz"
    args = ["--headless", "--task", "text", "--data", str(data), "--seq-len", "4", "--samples", "64", "--epochs", "1"]
    assert run([*args, "--save", str(ckpt)], capsys)[0] == 0
    status, out, err = run(["--headless", "--load", str(ckpt), "--task", "copy", "--samples", "64", "--epochs", "1"],
                           capsys)  # fmt: skip
    assert status == 0, err
    assert "task copy" in out and "done: 1 epoch" in out


def test_a_text_file_that_moved_is_named_with_a_hint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("the cat sat on the mat. " * 30)
    args = ["--headless", "--task", "text", "--data", "t.txt", "--seq-len", "8", "--samples", "64", "--epochs", "1"]
    assert run([*args, "--save", "t.npz"], capsys)[0] == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    status, _, err = run(["--headless", "--load", "../t.npz"], capsys)
    assert status == 2 and "t.txt: no such file (the text ../t.npz was trained on: give its place with --data)" in err
    assert run(["--headless", "--load", "../t.npz", "--data", "../t.txt", "--epochs", "2"], capsys)[0] == 0


def test_a_diverging_run_stops_with_one_line_and_keeps_the_last_good_parameters(tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    status, out, err = run([*FAST, "--lr", "1e35", "--save", str(ckpt)], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "training diverged at step 1: the update is not finite" in err
    assert f"the last good parameters are in {tmp_path / 'run.diverged.npz'}" in err
    saved = checkpoint.load(tmp_path / "run.diverged.npz")
    assert saved.position["step"] == 0 and all(np.isfinite(p).all() for p in saved.params.values())
    assert not ckpt.exists()  # --save is for a run that made it


def test_a_run_never_replaces_a_checkpoint_it_did_not_load(tmp_path, capsys):
    keep = tmp_path / "keep.npz"
    assert run([*FAST, "--save", str(keep)], capsys)[0] == 0
    good = keep.read_bytes()
    status, out, err = run([*FAST, "--lr", "1e4", "--save", str(keep)], capsys)  # a fresh run, to diverge
    assert status == 2 and err.count("\n") == 1 and "epoch" not in out  # refused before training
    assert f"{keep} already exists and this run did not load it: --load it to go on from it, choose another " \
           "--save path, or add --overwrite to replace it" in err  # fmt: skip
    assert keep.read_bytes() == good
    status, _, err = run(["--headless", "--load", str(keep), "--epochs", "5", "--lr", "1e35", "--save", str(keep)],
                         capsys)  # fmt: skip
    assert status == 2 and "keep.diverged.npz" in err  # the loaded file is the run's own, and still kept whole
    assert keep.read_bytes() == good
    assert checkpoint.load(tmp_path / "keep.diverged.npz").position["step"] == 30
    assert run([*FAST, "--epochs", "1", "--save", str(keep), "--overwrite"], capsys)[0] == 0
    assert checkpoint.load(keep).position["epoch"] == 1  # replaced, as asked
    assert run(["--headless", "--load", str(keep), "--epochs", "2", "--save", str(keep)], capsys)[0] == 0
    assert checkpoint.load(keep).position["epoch"] == 2  # going on from it writes it again


def test_a_diverged_run_never_replaces_an_earlier_diverged_file(tmp_path, capsys):
    (tmp_path / "run.diverged.npz").write_text("an earlier run's")
    status, _, err = run([*FAST, "--lr", "1e35", "--save", str(tmp_path / "run.npz")], capsys)
    assert status == 2 and f"are in {tmp_path / 'run.diverged-2.npz'}" in err
    assert (tmp_path / "run.diverged.npz").read_text() == "an earlier run's"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
@pytest.mark.parametrize("flag", ["--save", "--metrics-out"])
def test_a_path_that_cannot_take_a_file_is_refused_before_training(flag, capsys):
    status, out, err = run([*FAST, flag, "/proc/x.out"], capsys)  # os.access says yes to root here
    assert status == 2 and err.count("\n") == 1 and "/proc/x.out: cannot be written" in err
    assert "epoch" not in out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_for_the_metrics_is_one_line_and_exit_2(tmp_path, capsys):
    status, out, err = run([*FAST, "--metrics-out", "/dev/full", "--save", str(tmp_path / "r.npz")], capsys)
    assert status == 2 and err == "tfnp-tui: error: /dev/full: cannot be written (No space left on device)\n"
    assert checkpoint.load(tmp_path / "r.npz").position["step"] == 10  # the training so far is kept


def test_a_resumed_run_continues_the_metrics_file_from_the_checkpoint(tmp_path, capsys):
    ckpt, metrics = tmp_path / "r.npz", tmp_path / "m.jsonl"
    assert run([*FAST, "--epochs", "2", "--save", str(ckpt), "--metrics-out", str(metrics)], capsys)[0] == 0
    lost = ["--headless", "--load", str(ckpt), "--epochs", "4", "--metrics-out", str(metrics)]
    assert run(lost, capsys)[0] == 0  # went on to epoch 4, and its checkpoint was never written
    assert run(lost, capsys)[0] == 0  # so the next run goes on from epoch 2 again
    assert [r.get("epoch") for r in records(metrics)] == [None, 1, 2, None, 3, 4]
    first, resumed = records(metrics)[0], records(metrics)[3]
    assert first["record"] == resumed["record"] == "header" and first["train"]["epochs"] == 2
    assert resumed["train"]["epochs"] == 4 and resumed["step"] == 20  # what the resumed run was set to


def test_version(capsys):
    from engine import __version__

    status, out, _ = run(["--version"], capsys)
    assert status == 0 and out == f"tfnp-tui {__version__}\n"


def test_another_task_takes_the_causal_mask_from_its_needs_and_the_command_line(tmp_path, capsys):
    data = tmp_path / "t.txt"
    data.write_text("abcdefghijklmnopqrst" * 20)  # 20 characters, like the synthetic tasks' vocabulary
    ckpt = tmp_path / "t.npz"
    args = ["--headless", "--task", "text", "--data", str(data), "--seq-len", "8", "--samples", "64", "--epochs", "1"]
    assert run([*args, "--save", str(ckpt)], capsys)[0] == 0
    new = ["--headless", "--load", str(ckpt), "--task", "reverse", "--samples", "64", "--epochs", "1"]
    status, out, err = run(new, capsys)
    assert status == 0, err
    assert "causal" not in out.splitlines()[0]  # reverse reads the whole sequence
    status, out, err = run([*new, "--no-causal", "--activation", "gelu"], capsys)
    assert status == 0 and "gelu" in out.splitlines()[0] and "causal" not in out.splitlines()[0], err
    status, out, err = run([*new, "--causal"], capsys)
    assert status == 0 and "causal" in out.splitlines()[0], err
    status, _, err = run(["--headless", "--load", str(ckpt), "--data", str(data), "--no-causal"], capsys)
    assert status == 2 and "causal" in err  # the same task goes on as it was trained


def test_running_out_of_memory_mid_run_is_one_line_and_keeps_the_parameters(tmp_path, capsys, monkeypatch):
    fail_at_step(monkeypatch, 3, MemoryError)
    ckpt = tmp_path / "run.npz"
    status, out, err = run([*FAST, "--save", str(ckpt)], capsys)
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err + out
    assert "out of memory after step 2: try a smaller --batch-size or model" in err
    assert f"the last good parameters are in {ckpt}" in err
    assert checkpoint.load(ckpt).position["step"] == 2


def test_gradcheck_prints_every_tensor_and_exits_0_when_all_pass(tmp_path, capsys):
    small = ["--vocab", "10", "--d-model", "8", "--d-ff", "16"]  # every entry of every tensor, quickly
    status, out, err = run(["--gradcheck", "--heads", "2", "--norm-first", "--activation", "gelu", *small], capsys)
    assert status == 0, err
    assert "checking every entry" in out and "all 22 tensors pass" in out
    for name in ("embed", "layers.0.attn.wq", "layers.0.ln2.beta", "ln_f.gamma", "head.b", "input"):
        assert re.search(rf"^ {re.escape(name)} .* ✓ pass", out, re.M), name


def test_gradcheck_exits_1_and_names_the_tensor_when_a_gradient_is_wrong(capsys, monkeypatch):
    from engine.components import layernorm

    real = layernorm.backward

    def off_by_a_little(dy, cache):  # the kind of slip a hand-written backward pass can have
        dx, grads = real(dy, cache)
        return dx, {**grads, "gamma": grads["gamma"] * 1.001}

    monkeypatch.setattr(layernorm, "backward", off_by_a_little)
    status, out, _ = run(["--gradcheck", "--vocab", "10", "--d-model", "8", "--d-ff", "16"], capsys)
    assert status == 1
    assert re.search(r"^ layers\.0\.ln1\.gamma .* ✗ FAIL", out, re.M)
    assert re.search(r"^ layers\.0\.ln1\.beta .* ✓ pass", out, re.M)
    assert "2 of 20 tensors FAIL" in out  # ln1.gamma and ln2.gamma


def test_gradcheck_passes_a_trained_checkpoint_and_shows_zero_gradients_as_zero(tmp_path, capsys):
    """A model trained to a loss of about 1e-4: rounding, not the loss, sets what finite
    differences resolve; the key biases' gradients are zero up to rounding and say so."""
    from ..engine.gradients import trained_reverse

    ckpt = tmp_path / "trained.npz"
    checkpoint.save(ckpt, trained_reverse())
    status, out, err = run(["--gradcheck", "--load", str(ckpt)], capsys)
    assert status == 0, out + err
    assert "all 36 tensors pass" in out and "2 zero (below noise floor)" in out
    for name in ("layers.0.attn.bk", "layers.1.attn.bk"):
        assert re.search(rf"^ {re.escape(name)} +below noise .* ✓ zero", out, re.M), name
    assert re.search(r"^ layers\.1\.attn\.bq +\d\.\de-\d\d .* ✓ pass", out, re.M)


def test_gradcheck_fails_a_trained_checkpoint_whose_small_gradient_is_wrong(tmp_path, capsys, monkeypatch):
    """The query bias's gradient is small in the trained model; 0.1% off in one entry fails."""
    from engine.components import attention

    from ..engine.gradients import trained_reverse

    real = attention.backward

    def off_in_one_entry(dy, cache):
        dx, grads = real(dy, cache)
        dbq = grads["bq"].copy()
        dbq[np.abs(dbq).argmax()] *= 1.001
        return dx, {**grads, "bq": dbq}

    ckpt = tmp_path / "trained.npz"
    checkpoint.save(ckpt, trained_reverse())
    monkeypatch.setattr(attention, "backward", off_in_one_entry)
    status, out, _ = run(["--gradcheck", "--load", str(ckpt)], capsys)
    assert status == 1
    assert "2 of 36 tensors FAIL" in out
    for name in ("layers.0.attn.bq", "layers.1.attn.bq"):
        assert re.search(rf"^ {re.escape(name)} .* ✗ FAIL", out, re.M), name


def test_gradcheck_verdict_counts_zero_gradients_and_entries_at_kinks():
    from rich.console import Console

    from engine.gradcheck import GradcheckReport, TensorCheck
    from tfnp_tui.describe import gradcheck_table, gradcheck_verdict

    rows = [TensorCheck("w", 2e-7, 1.0, 1.0, 62, 64, at_kinks=2), TensorCheck("bk", 1e-9, 1e-20, 0.0, 8, 8, zero=True)]
    report = GradcheckReport(rows, seconds=1.5)
    assert gradcheck_verdict(report).plain == (
        "all 2 tensors pass  ·  worst 2.0e-07 (tolerance 1e-06)  ·  1 zero (below noise floor)  ·  "
        "2 entries at a ReLU kink not checkable  ·  1.5s"
    )
    console = Console(width=100, record=True)
    console.print(gradcheck_table(report))
    text = console.export_text()
    assert re.search(r"^ w +2\.0e-07 .* 62/64 +✓ pass", text, re.M)
    assert re.search(r"^ bk +below noise .* 8/8 +✓ zero", text, re.M)


def test_gradcheck_runs_on_its_own(capsys):
    status, _, err = run(["--gradcheck", "--headless"], capsys)
    assert status == 2 and "argument --headless: not allowed with argument --gradcheck" in err


def test_the_console_script_and_python_m(tmp_path):
    """The installed entry points run as a user would start them: exit status and stderr only."""
    result = subprocess.run([sys.executable, "-m", "tfnp_tui", "--headless", "--heads", "0"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "tfnp-tui: error: --heads: must be a positive integer, got 0\n"
    result = subprocess.run([sys.executable, "-m", "tfnp_tui", *FAST, "--epochs", "1"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and "done: 1 epoch," in result.stdout


def test_metrics_out_never_replaces_a_file_of_the_users(tmp_path, capsys):
    ckpt, data, notes = tmp_path / "r.npz", tmp_path / "t.txt", tmp_path / "notes.txt"
    assert run([*FAST, "--epochs", "1", "--save", str(ckpt)], capsys)[0] == 0
    data.write_text("the cat sat on the mat. " * 30)
    notes.write_text("my notes\n")
    kept = {p: p.read_bytes() for p in (ckpt, data, notes)}
    cases = [
        (["--load", str(ckpt), "--task", "copy", "--metrics-out", str(ckpt)], "is the --load file"),
        (["--task", "text", "--data", str(data), "--metrics-out", str(data)], "is the --data file"),
        (["--save", str(tmp_path / "s.npz"), "--metrics-out", str(tmp_path / "s.npz")], "is the --save file"),
        (["--lr", "1e308", "--metrics-out", str(notes)], "exists and is not a metrics file"),
        (["--metrics-out", ""], "--metrics-out: the file name is empty"),
        (["--save", ""], "--save: the file name is empty"),
    ]
    for argv, message in cases:
        status, out, err = run([*FAST, *argv], capsys)
        assert status == 2 and message in err and err.count("\n") == 1, (argv, err)
    assert all(p.read_bytes() == b for p, b in kept.items())
    assert run([*FAST, "--epochs", "1", "--metrics-out", str(notes), "--overwrite"], capsys)[0] == 0


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_checkpoint_is_never_written_over_a_device(capsys):
    status, _, err = run([*FAST, "--save", "/dev/null", "--overwrite"], capsys)
    assert status == 2 and "/dev/null: not a plain file" in err
    assert run([*FAST, "--epochs", "1", "--metrics-out", "/dev/null"], capsys)[0] == 0  # metrics may go there


def test_ctrl_c_while_building_is_one_line(capsys, monkeypatch):
    import tfnp_tui.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build", interrupted)
    status, out, err = run(["--gradcheck"], capsys)
    assert status == 2 and err == "tfnp-tui: interrupted\n" and "Traceback" not in out + err


def test_ctrl_c_during_a_run_saves_and_is_one_line(tmp_path, capsys, monkeypatch):
    fail_at_step(monkeypatch, 3, KeyboardInterrupt)
    ckpt = tmp_path / "run.npz"
    status, out, err = run([*FAST, "--save", str(ckpt)], capsys)
    assert status == 2 and err == f"tfnp-tui: error: interrupted after step 2; the last good parameters are in {ckpt}\n"
    assert checkpoint.load(ckpt).position["step"] == 2
