"""Export to PyTorch (engine/export.py): the state-dict names are exactly the issue's list, every
tensor is ours in PyTorch's (out, in) orientation, the file round-trips, writes are atomic,
and (where PyTorch is installed) the exported weights in nn.TransformerEncoder give our logits."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from engine import ModelConfig, TransformerEncoder
from engine.export import EXTRA, ExportError, read_metadata, torch_state_dict, write


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # sys.modules[name] is None: made unimportable
        return False


needs_torch = pytest.mark.skipif(not installed("torch"), reason="PyTorch is not installed")
needs_safetensors = pytest.mark.skipif(
    not installed("safetensors"), reason="safetensors (the [export] extra) is not installed"
)

TASK = {"name": "text", "chars": "\n abé"}


def issue_keys(n_layers: int, norm_first: bool) -> set[str]:
    """The names as issue 12 lists them, written out here independently of engine/export.py."""
    keys = {"embed.weight", "head.weight", "head.bias"}
    per_layer = ("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                 "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                 "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")  # fmt: skip
    keys |= {f"encoder.layers.{i}.{name}" for i in range(n_layers) for name in per_layer}
    if norm_first:
        keys |= {"encoder.norm.weight", "encoder.norm.bias"}
    return keys


def random_model(seed: int = 3, **kw) -> TransformerEncoder:
    """A model whose every parameter is random (biases and LayerNorms too), so a bias that lands
    in the wrong place cannot hide behind an initial zero or one."""
    model = TransformerEncoder(ModelConfig(**kw), seed=seed)
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if p.ndim == 1:
            p[...] = (1.0 if name.endswith("gamma") else 0.0) + 0.3 * rng.standard_normal(p.shape)
    return model


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_the_names_are_exactly_the_issues_list(n_layers, norm_first):
    cfg = ModelConfig(n_layers=n_layers, norm_first=norm_first)
    state = torch_state_dict(TransformerEncoder(cfg).params, cfg)
    assert set(state) == issue_keys(n_layers, norm_first)


def test_every_tensor_is_ours_in_pytorchs_orientation_as_float32():
    model = random_model(n_heads=2, n_layers=2, d_model=8, d_ff=12, vocab_size=7, norm_first=True, dtype="float64")
    P, C = model.params, 8
    state = torch_state_dict(P, model.cfg)
    for value in state.values():
        assert value.dtype == np.float32 and value.flags.c_contiguous
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    assert np.array_equal(state["embed.weight"], f32(P["embed"]))  # (V, C) both
    assert np.array_equal(state["head.weight"], f32(P["head.w"]).T) and state["head.weight"].shape == (7, C)
    assert np.array_equal(state["head.bias"], f32(P["head.b"]))
    assert np.array_equal(state["encoder.norm.weight"], f32(P["ln_f.gamma"]))
    assert np.array_equal(state["encoder.norm.bias"], f32(P["ln_f.beta"]))
    for i in range(2):
        p, q = f"layers.{i}.", f"encoder.layers.{i}."
        w, b = state[q + "self_attn.in_proj_weight"], state[q + "self_attn.in_proj_bias"]
        assert w.shape == (3 * C, C) and b.shape == (3 * C,)
        for n, name in enumerate("qkv"):  # rows n*C:(n+1)*C are the (out, in) weight of q, k, v
            assert np.array_equal(w[n * C : (n + 1) * C], f32(P[p + f"attn.w{name}"]).T)
            assert np.array_equal(b[n * C : (n + 1) * C], f32(P[p + f"attn.b{name}"]))
        pairs = {"self_attn.out_proj": "attn.wo", "linear1": "ffn.w1", "linear2": "ffn.w2"}
        for theirs, ours in pairs.items():
            assert np.array_equal(state[q + theirs + ".weight"], f32(P[p + ours]).T)
            assert np.array_equal(state[q + theirs + ".bias"], f32(P[p + ours.replace(".w", ".b")]))
        for theirs, ours in (("norm1", "ln1"), ("norm2", "ln2")):
            assert np.array_equal(state[q + theirs + ".weight"], f32(P[p + ours + ".gamma"]))
            assert np.array_equal(state[q + theirs + ".bias"], f32(P[p + ours + ".beta"]))
    assert state["encoder.layers.0.linear1.weight"].shape == (12, C)


# post-LN relu non-causal; pre-LN gelu causal; several heads in both
SIZES = dict(n_layers=2, d_model=16, d_ff=24, vocab_size=11, seq_len=6)
TORCH_CONFIGS = {
    "post-LN relu non-causal 2 heads": dict(SIZES, n_heads=2),
    "pre-LN gelu causal 4 heads": dict(SIZES, n_heads=4, norm_first=True, activation="gelu", causal=True),
}


@needs_torch
@pytest.mark.parametrize("name", TORCH_CONFIGS)
def test_the_state_dict_in_nn_transformer_encoder_gives_our_logits(name):
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    from torch_reference import TorchEncoder

    model = random_model(**TORCH_CONFIGS[name])
    theirs = TorchEncoder(model.cfg)
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == {
        k: v.shape for k, v in torch_state_dict(model.params, model.cfg).items()
    }
    state = {k: torch.from_numpy(v) for k, v in torch_state_dict(model.params, model.cfg).items()}
    theirs.load_state_dict(state, strict=True)
    theirs.eval()
    tokens = np.random.default_rng(0).integers(0, model.cfg.vocab_size, (5, model.cfg.seq_len))
    ours, _ = model.forward(tokens)
    with torch.no_grad():
        logits = theirs.logits(torch.from_numpy(tokens)).numpy()
    assert logits.dtype == np.float32
    assert np.abs(logits - ours).max() < 1e-5


@needs_safetensors
def test_the_file_round_trips_with_the_config_in_its_metadata(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    model = random_model(n_heads=2, norm_first=True, causal=True, dtype="float64")
    path = tmp_path / "m.safetensors"
    state = write(path, model.params, model.cfg, TASK)
    back = load_file(path)
    assert set(back) == set(state) == issue_keys(1, True)
    for key, value in state.items():
        assert back[key].dtype == np.float32 and np.array_equal(back[key], value), key
    with safe_open(path, framework="np") as f:
        record = json.loads(f.metadata()["tfnp"])
    assert record["model"] == {**model.cfg.to_dict(), "dtype": "float32"}  # what the file holds
    assert record["task"] == TASK
    assert ModelConfig(**record["model"]).norm_first
    assert read_metadata(path) == record  # our plain-Python header reader agrees
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary file left beside it


def test_read_metadata_knows_only_our_exports(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "text").write_text("hello, world, this is not a header")
    (tmp_path / "huge").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    (tmp_path / "other").write_bytes(len(b'{"__metadata__":{"x":"1"}}').to_bytes(8, "little")
                                     + b'{"__metadata__":{"x":"1"}}')  # fmt: skip
    for name in ("empty", "text", "huge", "other", "missing"):
        assert read_metadata(tmp_path / name) is None, name


@needs_safetensors
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_nothing_behind_and_the_old_file_as_it_was(tmp_path, monkeypatch, failure):
    model = random_model()
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"before")

    def fail(fd):
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(ExportError if isinstance(failure, OSError) else KeyboardInterrupt) as err:
        write(path, model.params, model.cfg, TASK)
    if isinstance(failure, OSError):
        assert str(err.value) == f"{path}: cannot be written (No space left on device)"
    assert os.listdir(tmp_path) == ["m.safetensors"] and path.read_bytes() == b"before"


def test_without_safetensors_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)  # `import safetensors` now fails
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    model = random_model()
    with pytest.raises(ExportError, match=r"safetensors package: pip install 'tfnp\[export\]'"):
        write(tmp_path / "m.safetensors", model.params, model.cfg, TASK)
    assert EXTRA == "pip install 'tfnp[export]'"
    assert os.listdir(tmp_path) == []


def test_the_engine_imports_neither_torch_nor_safetensors():
    import subprocess

    code = "import sys, engine.export; print(sorted({'torch', 'safetensors'} & set(sys.modules)))"
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
