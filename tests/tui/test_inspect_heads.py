"""tfnp-tui --inspect-heads: the heads of a trained reverse model, as a table and as JSON, with
knock-out figures equal to those of a model whose output-projection rows for the head are
zero, evaluated here on the checkpoint's validation set."""

import json

import numpy as np
import pytest

from tests.engine.test_heads import loss_and_acc, without_head
from tfnp_tui.cli import build, build_parser, main

from .lab import REVERSE

KEYS = {"layer", "head", "entropy_bits", "pattern", "pattern_score", "val_loss", "val_acc", "base_val_loss",
        "base_val_acc"}  # fmt: skip


@pytest.fixture(scope="module")
def reverse_checkpoint(tmp_path_factory):
    """The README's reverse model, 12 epochs (the anti-diagonal is there by then)."""
    path = tmp_path_factory.mktemp("heads") / "reverse.npz"
    assert main(["--headless", *REVERSE, "--epochs", "12", "--save", str(path)]) == 0
    return path


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_json_names_the_anti_diagonal_and_knock_outs_equal_zeroed_output_rows(reverse_checkpoint, capsys):
    status, out, err = run(["--inspect-heads", "--load", str(reverse_checkpoint), "--json"], capsys)
    assert status == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["layer"], r["head"]) for r in records] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(set(r) == KEYS for r in records)
    assert any(r["pattern"] == "anti-diagonal" and r["pattern_score"] > 0.8 for r in records)

    trainer = build(build_parser().parse_args(["--load", str(reverse_checkpoint)])).trainer
    model, task = trainer.model, trainer.task  # the checkpoint's parameters, its validation set
    tokens, targets = task.val_tokens, task.val_targets
    base = loss_and_acc(model.forward(tokens)[0].astype(np.float64), targets)
    for r in records:
        assert (r["base_val_loss"], r["base_val_acc"]) == pytest.approx(base, rel=1e-4)
        knocked = without_head(model, r["layer"] - 1, r["head"] - 1).forward(tokens)[0].astype(np.float64)
        assert (r["val_loss"], r["val_acc"]) == pytest.approx(loss_and_acc(knocked, targets), rel=1e-4)
    assert min(r["val_acc"] for r in records) < records[0]["base_val_acc"] - 0.05  # some head is needed


def test_the_table_reads_as_the_json(reverse_checkpoint, capsys):
    status, out, _ = run(["--inspect-heads", "--load", str(reverse_checkpoint)], capsys)
    assert status == 0
    assert "anti-diagonal" in out and "L2 H2" in out and "whole model" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("L")]
    assert len(rows) == 4


def test_json_without_inspect_heads_is_one_line_and_status_2(capsys):
    status, out, err = run(["--json"], capsys)
    assert status == 2 and err.count("\n") == 1 and "--json" in err and "Traceback" not in err


def test_a_fresh_model_is_inspected_too(capsys):
    status, out, _ = run(["--inspect-heads", "--json"], capsys)
    record = json.loads(out)  # one layer, one head
    assert status == 0 and record["layer"] == record["head"] == 1
