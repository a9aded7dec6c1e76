"""Checkpoints: exact round trips, exact resumption, atomic writes, and clear errors."""

import json
import os
import zipfile

import numpy as np
import pytest

from engine import ModelConfig, TrainConfig
from engine.training import checkpoint
from engine.training.checkpoint import CheckpointError
from engine.training.trainer import Trainer


def trainer(**model):
    return Trainer(ModelConfig(**model), TrainConfig(optimizer="adam", samples=40, val_samples=10, batch_size=3))


def test_round_trip_is_bit_identical(tmp_path):
    a = trainer()
    for _ in range(5):
        a.step()
    path = tmp_path / "run.npz"
    checkpoint.save(path, a)
    ckpt = checkpoint.load(path)
    assert ckpt.model_cfg == a.model_cfg
    assert ckpt.train == a.train_cfg.to_dict()
    assert ckpt.position["step"] == 5
    for name, p in a.model.params.items():
        assert np.array_equal(ckpt.params[name], p) and ckpt.params[name].dtype == p.dtype
    with np.load(path, allow_pickle=False) as z:  # pinned names at the top level of the file
        assert set(a.model.params) <= set(z.files)


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    uninterrupted = trainer()
    expected = [uninterrupted.step().loss for _ in range(40)]

    first = trainer()
    got = [first.step().loss for _ in range(17)]  # stop mid-epoch (14 steps an epoch)
    checkpoint.save(tmp_path / "mid.npz", first)
    resumed = trainer()
    checkpoint.restore(resumed, checkpoint.load(tmp_path / "mid.npz"))
    reports = [resumed.step() for _ in range(23)]
    got += [r.loss for r in reports]
    assert got == expected
    end = [r.epoch_report for r in reports if r.epoch_report][0]
    assert end.epoch == 2 and np.isfinite(end.loss)
    for name, p in uninterrupted.model.params.items():
        assert np.array_equal(p, resumed.model.params[name]), name


def test_another_model_config_is_named(tmp_path):
    checkpoint.save(tmp_path / "a.npz", trainer())
    other = trainer(d_model=16)
    with pytest.raises(CheckpointError, match=r"a.npz: another model: d_model is 32 in the checkpoint but 16 here"):
        checkpoint.restore(other, checkpoint.load(tmp_path / "a.npz"))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="nope.npz: no such file"):
        checkpoint.load(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(os.urandom(300))
    with pytest.raises(CheckpointError, match="garbage.npz: not a readable tfnp checkpoint"):
        checkpoint.load(garbage)
    good = tmp_path / "good.npz"
    checkpoint.save(good, trainer())
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="truncated.npz"):
        checkpoint.load(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, embed=np.zeros((20, 32)))
    with pytest.raises(CheckpointError, match="plain.npz: not a tfnp checkpoint"):
        checkpoint.load(plain)
    with pytest.raises(CheckpointError, match="is a directory"):
        checkpoint.load(tmp_path)
    np.save(tmp_path / "lone.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="lone.npy: a single array, not a tfnp checkpoint"):
        checkpoint.load(tmp_path / "lone.npy")


HEADER = {"format": "tfnp-checkpoint", "version": 1}


@pytest.mark.parametrize(
    "meta, message",
    [
        ([1, 2], "its meta.json record is not a JSON object"),
        ({**HEADER, "model": {}, "train": {}, "position": {}, "task": [1]},
         "its meta.json record's 'task' section is missing or not an object"),
        ({**HEADER, "model": {}, "train": {}}, "its meta.json record's 'position' section is missing"),
    ],
)  # fmt: skip
def test_a_meta_record_of_the_wrong_shape(tmp_path, meta, message):
    np.savez(tmp_path / "odd.npz", **{"meta.json": np.array(json.dumps(meta))})
    with pytest.raises(CheckpointError, match=f"odd.npz: {message}"):
        checkpoint.load(tmp_path / "odd.npz")


def test_optimizer_state_that_is_not_finite_numbers_is_refused(tmp_path):
    saved = trainer()
    saved.step()
    checkpoint.save(tmp_path / "a.npz", saved)
    with np.load(tmp_path / "a.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["optimizer/s"] = np.full_like(arrays["optimizer/s"], np.nan)
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(CheckpointError, match="nan.npz: optimizer state s is not an array of finite numbers"):
        checkpoint.load(tmp_path / "nan.npz")


def test_a_corrupt_position_leaves_the_trainer_as_it_was(tmp_path):
    saved = trainer()
    for _ in range(4):
        saved.step()
    checkpoint.save(tmp_path / "a.npz", saved)
    ckpt = checkpoint.load(tmp_path / "a.npz")
    ckpt.position["epoch_totals"]["bogus"] = 1
    fresh = trainer()
    before = fresh.model.params_numpy()
    with pytest.raises(CheckpointError, match="a.npz: its training position is corrupt"):
        checkpoint.restore(fresh, ckpt)
    assert fresh.step_count == 0 and fresh.optimizer.t == 0 and not fresh.optimizer.state_arrays()
    assert all(np.array_equal(before[k], v) for k, v in fresh.model.params_numpy().items())
    ckpt = checkpoint.load(tmp_path / "a.npz")
    del ckpt.optimizer_state["s"]  # Adam's second moments, after 4 steps: starting them at 0 would jolt
    with pytest.raises(CheckpointError, match="optimizer state s is missing after 4 steps"):
        checkpoint.restore(fresh, ckpt)
    assert fresh.step_count == 0 and fresh.optimizer.t == 0 and not fresh.optimizer.state_arrays()
    ckpt = checkpoint.load(tmp_path / "a.npz")
    ckpt.optimizer_state["m"] = ckpt.optimizer_state["m"][:5]  # the wrong size
    with pytest.raises(CheckpointError, match="optimizer state m has shape"):
        checkpoint.restore(fresh, ckpt)
    assert fresh.step_count == 0 and fresh.optimizer.t == 0 and not fresh.optimizer.state_arrays()


def test_a_checkpoint_missing_a_parameter_or_with_a_wrong_shape(tmp_path):
    good = tmp_path / "good.npz"
    checkpoint.save(good, trainer())
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    broken = dict(arrays)
    del broken["head.b"]
    np.savez(tmp_path / "missing.npz", **broken)
    with pytest.raises(CheckpointError, match="missing.npz: parameter head.b is missing"):
        checkpoint.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "shape.npz", **{**arrays, "head.w": np.zeros((3, 3))})
    with pytest.raises(CheckpointError, match=r"parameter head.w is float64 \(3, 3\), expected \(32, 20\)"):
        checkpoint.load(tmp_path / "shape.npz")
    meta = json.loads(str(arrays["meta.json"]))
    meta["model"]["d_model"] = 33
    np.savez(tmp_path / "config.npz", **{**arrays, "meta.json": np.array(json.dumps(meta))})
    with pytest.raises(CheckpointError, match="its model config is invalid .d_model: must be even"):
        checkpoint.load(tmp_path / "config.npz")


class Exploit:
    """Unpickling this would create a file: a checkpoint must never run it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    np.savez(evil, embed=np.array([Exploit(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="evil.npz"):
        checkpoint.load(evil)
    assert not marker.exists()


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    checkpoint.save(path, trainer())
    before = path.read_bytes()

    def fail_half_way(f, **arrays):
        f.write(b"PK half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", fail_half_way)
    with pytest.raises(CheckpointError, match=r"run.npz: cannot write the checkpoint \(No space left on device\)"):
        checkpoint.save(path, trainer())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary file left behind

    def interrupted(f, **arrays):
        f.write(b"PK half")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, trainer())
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.npz"]


def test_a_checkpoint_gets_the_permissions_of_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        checkpoint.save(tmp_path / "run.npz", trainer())
    finally:
        os.umask(old)
    assert (tmp_path / "run.npz").stat().st_mode & 0o777 == 0o644


def test_an_unwritable_place_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no-such-dir/run.npz: cannot write"):
        checkpoint.save(tmp_path / "no-such-dir" / "run.npz", trainer())


def test_a_checkpoint_is_a_plain_zip_of_npy_files(tmp_path):
    checkpoint.save(tmp_path / "run.npz", trainer())
    with zipfile.ZipFile(tmp_path / "run.npz") as z:
        assert "meta.json.npy" in z.namelist() and "embed.npy" in z.namelist()
