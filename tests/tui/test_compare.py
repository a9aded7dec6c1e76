"""Runs read back from metrics files (tfnp_tui/runs.py) and `tfnp-tui compare`: one chart and
one table whose figures are those of the files, labels that tell runs apart, and one line
with exit status 2 for every bad input, on the command line and for the lab's --compare."""

from __future__ import annotations

import json
import math

import pytest

from tfnp_tui.cli import run
from tfnp_tui.compare import run_compare
from tfnp_tui.numbers import loss_text
from tfnp_tui.runs import (
    LrChange,
    RunsError,
    distinct_labels,
    earlier_run,
    lr_change,
    read_run,
    read_runs,
    short_labels,
)

from .metrics_files import header, records, write

TINY = ["--task", "reverse", "--seq-len", "6", "--samples", "96", "--val-samples", "32", "--dtype", "float64"]


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> list[str]:
    """Three short real runs: Adam, SGD, and a pre-LN run stopped after 2 epochs and resumed
    with another learning rate (its file holds two headers)."""
    folder = tmp_path_factory.mktemp("runs")
    a, b, c, ckpt = (str(folder / name) for name in ("adam.jsonl", "sgd.jsonl", "resumed.jsonl", "c.npz"))
    assert run(["--headless", *TINY, "--epochs", "3", "--metrics-out", a]) == 0
    assert run(["--headless", *TINY, "--epochs", "3", "--optimizer", "sgd", "--lr", "0.1", "--metrics-out", b]) == 0
    assert run(["--headless", *TINY, "--epochs", "2", "--norm-first", "--save", ckpt, "--metrics-out", c]) == 0
    assert run(["--headless", "--load", ckpt, "--epochs", "4", "--lr", "2e-3", "--save", ckpt, "--metrics-out", c]) == 0
    return [a, b, c]


def epoch_records(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if "epoch" in r]


def wide(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no cell of the table wraps
    monkeypatch.setenv("LINES", "50")


def test_a_run_is_its_epochs_in_order_under_its_last_header(three_runs):
    adam, sgd, resumed = read_runs(three_runs)
    assert [r["epoch"] for r in resumed.records] == [1, 2, 3, 4] and len(resumed.headers) == 2
    assert resumed.header["train"]["lr"] == 2e-3 and resumed.label == "adam 2e-3 · L1 H1 C32"
    assert (adam.label, sgd.label) == ("adam 1e-3 · L1 H1 C32", "sgd 1e-1 · L1 H1 C32")
    assert list(adam.column("val_loss")) == [r["val_loss"] for r in epoch_records(three_runs[0])]


def test_compare_prints_one_chart_and_one_table_of_the_files_figures(three_runs, capsys, monkeypatch):
    wide(monkeypatch)
    assert run(["compare", *three_runs]) == 0
    out, err = capsys.readouterr()
    assert not err
    lines = out.splitlines()
    assert sum(line.lstrip().startswith("┌") for line in lines) == 1  # one chart
    assert sum(line.lstrip().startswith("└┬") for line in lines) == 1
    runs = read_runs(three_runs)
    for r in runs:  # the legend names each run and its file
        assert any(r.label in line and r.path in line for line in lines)
    assert sum(line.startswith("best val loss") for line in lines) == 1  # one table
    expected = {"best val loss": [], "best val acc": [], "steps/s": [], "epochs": []}
    for path in three_runs:
        recs = epoch_records(path)
        low = min(recs, key=lambda r: r["val_loss"])  # the first epoch at the lowest
        high = max(recs, key=lambda r: r["val_acc"])
        last = recs[-1]
        expected["best val loss"].append(f"{loss_text(low['val_loss'])} at epoch {low['epoch']}")
        expected["best val acc"].append(f"{100 * high['val_acc']:.1f}% at epoch {high['epoch']}")
        expected["steps/s"].append(f"{last['step'] / last['seconds']:,.1f}")
        expected["epochs"].append(f"{last['epoch']} ({last['step']} steps)")
    for name, cells in expected.items():
        row = next(line for line in lines if line.startswith(name))
        assert [c.strip() for c in row.split("│")[1:]] == cells, name


def test_no_chart_prints_the_table_alone(three_runs, capsys, monkeypatch):
    wide(monkeypatch)
    assert run_compare(["--no-chart", three_runs[0]]) == 0  # one run is enough
    out = capsys.readouterr().out
    assert "┌" not in out and "best val loss" in out


@pytest.mark.parametrize(
    "argv, says",
    [
        ([], "give the metrics files"),
        (["missing.jsonl"], "missing.jsonl: no such file"),
        (["notes.txt"], "notes.txt: not a metrics file"),
        (["header-only.jsonl"], "header-only.jsonl: holds no epoch yet"),
        (["broken.jsonl"], "broken.jsonl, line 2: not a JSON record"),
        (["--bogus", "run.jsonl"], "unrecognized arguments: --bogus"),
        (["."], ".: is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, says, capsys):
    with open("notes.txt", "w") as f:
        f.write("my notes\n")
    write("header-only.jsonl", header())
    write("run.jsonl", header(), records(2))
    with open("broken.jsonl", "w") as f:
        f.write(json.dumps(header()) + "\n{not json\n")
    assert run(["compare", *argv]) == 2
    out, err = capsys.readouterr()
    assert not out and len(err.splitlines()) == 1 and says in err and err.startswith("tfnp-tui compare: error:")


def test_help_exits_0(capsys):
    assert run(["compare", "--help"]) == 0
    assert "usage: tfnp-tui compare" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--compare", "missing.jsonl"], "--compare: missing.jsonl: no such file"),
        (["--compare", "run.jsonl", "--compare", "notes.txt"], "--compare: notes.txt: not a metrics file"),
        (["--headless", "--compare", "run.jsonl"], "--compare: only in the lab"),
    ],
)
def test_the_labs_compare_refuses_bad_files_before_it_opens(argv, says, capsys):
    write("run.jsonl", header(), records(2))
    with open("notes.txt", "w") as f:
        f.write("my notes\n")
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and says in err


def test_labels_are_told_apart_by_the_first_setting_that_differs(tmp_path):
    post = write(tmp_path / "post.jsonl", header(), records(2))
    pre = write(tmp_path / "pre.jsonl", header({"norm_first": True}), records(2))
    twin = write(tmp_path / "twin.jsonl", header(), records(3))
    seeds = [write(tmp_path / f"s{s}.jsonl", header(train={"seed": s}), records(2)) for s in (1, 2)]
    assert [r.label for r in read_runs([post, pre])] == ["adam 1e-3 · L1 H1 C32 · post-LN",
                                                          "adam 1e-3 · L1 H1 C32 · pre-LN"]  # fmt: skip
    assert [r.label for r in read_runs(seeds)] == ["adam 1e-3 · L1 H1 C32 · seed 1", "adam 1e-3 · L1 H1 C32 · seed 2"]
    assert [r.label for r in read_runs([post, twin])] == ["adam 1e-3 · L1 H1 C32 · post.jsonl",
                                                           "adam 1e-3 · L1 H1 C32 · twin.jsonl"]  # fmt: skip
    runs = read_runs([post, pre, seeds[0]])
    assert len(set(distinct_labels(runs))) == 3
    assert short_labels(["adam 1e-3 · L2 H2 C64", "sgd 1e-2 · L2 H2 C64"]) == ["adam 1e-3", "sgd 1e-2"]
    no_header = write(tmp_path / "bare.jsonl", records(2))
    assert read_run(no_header).label == "bare"


def test_lr_changes_and_an_epoch_that_starts_over(tmp_path):
    halved = records(6, scales={3: 0.5, 5: 1.0})
    run_ = read_run(write(tmp_path / "lr.jsonl", header(), halved))
    assert [(c.step, c.epoch, c.ratio, c.label) for c in run_.lr_changes()] == [
        (21, 2, 0.5, "lr ×1/2"),
        (41, 4, 2.0, "lr ×2"),
    ]
    assert lr_change((10, 1.0, 0.5), 1.0) == LrChange(11, 1.0, 2.0) and lr_change((10, 1.0, 0.5), 0.5) is None
    again = records(5)[2:]  # a run that went on from epoch 2 after a lost one had reached 4
    over = read_run(write(tmp_path / "over.jsonl", header(), records(4), header(), again))
    assert [r["epoch"] for r in over.records] == [1, 2, 3, 4, 5] and over.records[2] is not None


def test_an_epoch_record_without_its_figures_is_named(tmp_path):
    bad = records(2)
    del bad[1]["val_loss"]
    with pytest.raises(RunsError, match=r"line 3: an epoch record without a number for val_loss"):
        read_run(write(tmp_path / "bad.jsonl", header(), bad))


def test_earlier_epochs_are_this_runs_only(tmp_path, monkeypatch):
    """earlier_run: the epochs up to the checkpoint's, from the file the run that saved it wrote."""
    monkeypatch.chdir(tmp_path)
    assert run(["--headless", *TINY, "--epochs", "2", "--save", "c.npz", "--metrics-out", "m.jsonl"]) == 0
    assert run(["--headless", "--load", "c.npz", "--epochs", "3", "--save", "c3.npz", "--metrics-out", "m.jsonl"]) == 0
    from engine.training.checkpoint import load

    ckpt = load("c.npz")
    earlier = earlier_run("m.jsonl", ckpt)
    assert [r["epoch"] for r in earlier.records] == [1, 2]  # not the third: it came after the checkpoint
    assert earlier_run("missing.jsonl", ckpt) is None and earlier_run(None, ckpt) is None
    write("other.jsonl", header({"d_model": 64}), records(2, steps_per_epoch=3))
    assert earlier_run("other.jsonl", ckpt) is None  # another model's
    with open("m.jsonl", encoding="utf-8") as f:
        own = json.loads(f.readline())  # this run's header: only the steps are wrong below
    write("late.jsonl", own, records(2, steps_per_epoch=1000))
    assert earlier_run("late.jsonl", ckpt) is None  # its epoch 2 ended after the checkpoint's step


def test_steps_per_second_of_a_run_that_took_no_time(tmp_path):
    recs = records(1)
    recs[0]["seconds"] = 0
    assert math.isnan(read_run(write(tmp_path / "z.jsonl", header(), recs)).steps_per_second)


def test_the_chart_is_sized_to_the_terminal(three_runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    monkeypatch.setenv("LINES", "60")
    assert run_compare(three_runs) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┌"))
    bottom = next(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    chart = lines[top : bottom + 2]  # the frame, and the ticks' labels under it
    assert max(len(line) for line in chart) <= 72 and len(chart) == 24  # the tallest chart


def test_a_change_during_epoch_1_is_drawn_at_the_axis_start(tmp_path, capsys, monkeypatch):
    """The axis starts at epoch 0 when a run's rate changed during epoch 1: its mark is drawn
    there, label and dotted line, and the table says in which epoch it changed."""
    wide(monkeypatch)
    path = write(tmp_path / "early.jsonl", header(), records(5, scales={1: 0.5, 3: 1.0}))
    assert [(c.step, c.epoch) for c in read_run(path).lr_changes()] == [(1, 0), (21, 2)]
    assert run_compare([path]) == 0
    lines = capsys.readouterr().out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┌"))
    bottom = next(i for i, line in enumerate(lines) if line.lstrip().startswith("└"))
    chart = "\n".join(lines[top : bottom + 2])
    assert "lr ×1/2" in chart and "lr ×2" in chart
    assert lines[bottom + 1].split()[0] == "0"  # the first tick: the axis starts before epoch 1
    first_column = min(line.index("┊") for line in lines[top:bottom] if "┊" in line)
    assert first_column == lines[bottom].index("┬")  # the dotted line at the first tick, epoch 0
    row = next(line for line in lines[bottom:] if line.lstrip().startswith("lr changed"))
    assert "lr ×1/2 in epoch 1" in row and "lr ×2 in epoch 3" in row


def test_without_colour_each_run_is_drawn_in_a_letter_of_its_own(three_runs, capsys, monkeypatch):
    """Piped (no colour), the chart cannot tell runs apart by colour: each run's training line
    and validation points are drawn with its letter, and the legend gives the letters."""
    wide(monkeypatch)
    assert run_compare(three_runs) == 0
    lines = capsys.readouterr().out.splitlines()
    plot = lines[lines.index(next(line for line in lines if line.lstrip().startswith("┌"))) :]
    plot = plot[: plot.index(next(line for line in plot if line.lstrip().startswith("└┬")))]
    for letter, read in zip("ABC", read_runs(three_runs)):
        assert any(letter in line for line in plot), letter  # drawn
        assert any(line.startswith(f"{letter}  {read.label}") for line in lines), letter  # and named
    assert not any("⠁" <= c <= "⣿" for line in plot for c in line)  # no braille: nothing hides a run's letter
