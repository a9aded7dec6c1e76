"""--metrics-out's file: a header and one run's epochs, continued from a checkpoint's position
when resuming, every failure one clear error, never anything else touched."""

import json
import os

import pytest

from engine import ModelConfig, TrainConfig, __version__
from engine.training.trainer import Trainer
from tfnp_tui.metrics import MetricsError, MetricsLog, header_record

HEADER = {"record": "header", "version": "test"}


def one_epoch():
    return Trainer(ModelConfig(), TrainConfig(samples=8, val_samples=4, batch_size=4)).run_epoch()


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_replaces_the_file_under_a_header_and_a_resumed_run_appends(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"epoch": 7}\n')
    log = MetricsLog(str(path), HEADER)
    log.write(one_epoch())
    log.close()
    assert lines(path) == [HEADER, lines(path)[1]] and lines(path)[1]["epoch"] == 1
    log = MetricsLog(str(path), HEADER, resume_epoch=1)
    log.write(one_epoch())
    log.close()
    assert [r.get("epoch") for r in lines(path)] == [None, 1, None, 1]  # each run under its own header


def test_a_resumed_run_drops_the_epochs_past_its_checkpoint(tmp_path):
    """Killed at epoch 24, resumed from the epoch-20 checkpoint: epochs 21-24 go, once."""
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [HEADER, *({"epoch": e} for e in range(1, 25))]) + "\n")
    inode = os.stat(path).st_ino
    log = MetricsLog(str(path), {"record": "header", "version": "resumed"}, resume_epoch=20)
    log.close()
    assert len(lines(path)) == 25  # a run that ends before its first epoch leaves the file as it was
    log = MetricsLog(str(path), {"record": "header", "version": "resumed"}, resume_epoch=20)
    log.write(one_epoch())
    log.close()
    assert [r.get("epoch") for r in lines(path)][:22] == [None, *range(1, 21), None]  # cut at the first epoch
    assert lines(path)[21]["version"] == "resumed"
    assert os.stat(path).st_ino != inode  # by a rename: never half rewritten
    assert not [f for f in os.listdir(tmp_path) if f != "m.jsonl"]  # no temporary file left


def test_a_resumed_run_without_a_header_in_the_file_writes_one(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n')
    log = MetricsLog(str(path), HEADER, resume_epoch=1)
    log.write(one_epoch())
    log.close()
    assert [r.get("record", r.get("epoch")) for r in lines(path)] == [1, "header", 1]


def test_the_header_says_what_the_run_measured():
    trainer = Trainer(ModelConfig(d_model=16), TrainConfig(task="copy", samples=8, val_samples=4))
    header = header_record(trainer)
    assert "epoch" not in header and header["version"] == __version__
    assert header["model"]["d_model"] == 16 and header["train"]["task"] == "copy" and header["step"] == 0
    json.dumps(header)  # plain JSON


def test_a_run_without_an_epoch_removes_only_a_plain_file_it_would_have_replaced(tmp_path):
    stale = tmp_path / "old.jsonl"
    stale.write_text('{"epoch": 7}\n')
    MetricsLog(str(stale), HEADER).close()
    assert not stale.exists()
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"epoch": 7}\n')
    link = tmp_path / "link.jsonl"
    os.symlink(kept, link)
    MetricsLog(str(link), HEADER).close()  # a link (or /dev/null, or a pipe) is never removed
    assert link.exists() and kept.read_text() == '{"epoch": 7}\n'
    MetricsLog(str(kept), HEADER, resume_epoch=7).close()  # nor a file a resumed run appends to
    assert kept.exists()


def test_a_file_that_cannot_be_written_is_one_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(MetricsError) as caught:
        MetricsLog(str(tmp_path / "d"), HEADER).write(one_epoch())
    assert str(caught.value) == f"{tmp_path / 'd'}: cannot be written (Is a directory)"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_clear_error_on_write_and_on_close():
    log = MetricsLog("/dev/full", HEADER)
    with pytest.raises(MetricsError, match=r"^/dev/full: cannot be written \(No space left on device\)$"):
        log.write(one_epoch())
    log.close()  # the failed file was let go: closing says nothing more


def test_a_close_that_fails_is_a_metrics_error(tmp_path):
    class FullDisk:
        def write(self, text):
            pass

        def flush(self):
            pass

        def close(self):
            raise OSError(28, "No space left on device")

    log = MetricsLog(str(tmp_path / "m.jsonl"), HEADER)
    log._file = FullDisk()  # a file whose buffered lines find the disk full at the last flush
    with pytest.raises(MetricsError, match="cannot be written \\(No space left on device\\)"):
        log.close()
