"""--metrics-out's file: one run's epochs, appended when resuming, never anything else touched."""

import json
import os

import pytest

from engine import ModelConfig, TrainConfig
from engine.trainer import Trainer
from tfnp_tui.metrics import MetricsError, MetricsLog


def one_epoch():
    return Trainer(ModelConfig(), TrainConfig(samples=8, val_samples=4, batch_size=4)).run_epoch()


def test_a_run_replaces_the_file_and_a_resumed_run_appends(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"epoch": 7}\n')
    log = MetricsLog(str(path))
    log.write(one_epoch())
    log.close()
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1]
    log = MetricsLog(str(path), append=True)
    log.write(one_epoch())
    log.close()
    assert len(path.read_text().splitlines()) == 2


def test_a_run_without_an_epoch_removes_only_a_plain_file_it_would_have_replaced(tmp_path):
    stale = tmp_path / "old.jsonl"
    stale.write_text('{"epoch": 7}\n')
    MetricsLog(str(stale)).close()
    assert not stale.exists()
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"epoch": 7}\n')
    link = tmp_path / "link.jsonl"
    os.symlink(kept, link)
    MetricsLog(str(link)).close()  # a link (or /dev/null, or a pipe) is never removed
    assert link.exists() and kept.read_text() == '{"epoch": 7}\n'
    MetricsLog(str(kept), append=True).close()  # nor a file a resumed run appends to
    assert kept.exists()


def test_a_file_that_cannot_be_written_is_one_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(MetricsError) as caught:
        MetricsLog(str(tmp_path / "d")).write(one_epoch())
    assert str(caught.value) == f"{tmp_path / 'd'}: cannot be written (Is a directory)"
