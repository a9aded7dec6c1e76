"""Export to PyTorch: our parameters under the state-dict names of one torch module, written
as a .safetensors file.

The module (benchmarks/torch_reference.py builds it, the README shows it):

    embed   = nn.Embedding(V, C)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(C, H, F, dropout=0, activation=relu or
              gelu (tanh form), batch_first=True, norm_first=norm_first), L,
              norm=nn.LayerNorm(C) if norm_first else None)
    head    = nn.Linear(C, V)
    logits  = head(encoder(embed(tokens) + PE[:T], mask=causal mask or None))

A linear layer of ours is y = x @ W + b with W (in, out); torch's nn.Linear stores W (out, in),
so every weight matrix is transposed. nn.MultiheadAttention packs the three input projections
into one in_proj_weight (3C, C) = [wq | wk | wv]^T and in_proj_bias (3C,) = [bq, bk, bv]; its
heads are contiguous chunks of D columns, as ours. Every tensor is float32.

This module needs NumPy only; `write` imports the optional `safetensors` package when called
(pip install 'tfnp[export]') and raises ExportError, naming the extra, where it is missing.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from .config import ModelConfig
from .runtime import files
from .runtime.backend import to_numpy

FORMAT = "tfnp-export"
VERSION = 1
METADATA_KEY = "tfnp"  # the file's metadata entry that holds the JSON below
SUFFIX = ".safetensors"
EXTRA = "pip install 'tfnp[export]'"
MAX_HEADER = 100_000_000  # bytes: safetensors' own limit on the JSON header


class ExportError(ValueError):
    """The export cannot be written (the extra is missing, the file cannot be made)."""


def torch_state_dict(params: dict, cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Our parameters (pinned names, (in, out) weights) -> the module's state dict: float32,
    C-contiguous, (out, in) weights, in the module's order."""

    def f32(a) -> np.ndarray:
        return np.ascontiguousarray(to_numpy(a), dtype=np.float32)

    def T(a) -> np.ndarray:  # (in, out) -> (out, in)
        return f32(to_numpy(a).T)

    P = params
    state = {"embed.weight": f32(P["embed"])}  # (V, C): one row per token, as ours
    for i in range(cfg.n_layers):
        p, q = f"layers.{i}.", f"encoder.layers.{i}."
        w_qkv = np.concatenate([to_numpy(P[p + "attn." + w]) for w in ("wq", "wk", "wv")], axis=1)  # (C, 3C)
        b_qkv = np.concatenate([to_numpy(P[p + "attn." + b]) for b in ("bq", "bk", "bv")])  # (3C,)
        state[q + "self_attn.in_proj_weight"] = T(w_qkv)  # (3C, C)
        state[q + "self_attn.in_proj_bias"] = f32(b_qkv)  # (3C,)
        state[q + "self_attn.out_proj.weight"] = T(P[p + "attn.wo"])  # (C, C)
        state[q + "self_attn.out_proj.bias"] = f32(P[p + "attn.bo"])  # (C,)
        state[q + "linear1.weight"] = T(P[p + "ffn.w1"])  # (F, C)
        state[q + "linear1.bias"] = f32(P[p + "ffn.b1"])  # (F,)
        state[q + "linear2.weight"] = T(P[p + "ffn.w2"])  # (C, F)
        state[q + "linear2.bias"] = f32(P[p + "ffn.b2"])  # (C,)
        for ours, theirs in (("ln1", "norm1"), ("ln2", "norm2")):
            state[q + theirs + ".weight"] = f32(P[p + ours + ".gamma"])  # (C,)
            state[q + theirs + ".bias"] = f32(P[p + ours + ".beta"])  # (C,)
    if cfg.norm_first:
        state["encoder.norm.weight"] = f32(P["ln_f.gamma"])  # (C,)
        state["encoder.norm.bias"] = f32(P["ln_f.beta"])  # (C,)
    state["head.weight"] = T(P["head.w"])  # (V, C)
    state["head.bias"] = f32(P["head.b"])  # (V,)
    return state


def metadata(cfg: ModelConfig, task: dict) -> dict[str, str]:
    """The file's metadata: {"tfnp": JSON} with the model config (dtype float32: what the file
    holds) and the task ({"name", "chars"}: the text task's vocabulary, character by id)."""
    record = {
        "format": FORMAT,
        "version": VERSION,
        "model": {**cfg.to_dict(), "dtype": "float32"},
        "task": {"name": task.get("name"), "chars": task.get("chars")},
    }
    return {METADATA_KEY: json.dumps(record)}


def _safetensors_save():
    try:
        from safetensors.numpy import save
    except ImportError:
        raise ExportError(f"writing .safetensors needs the safetensors package: {EXTRA}") from None
    return save


def require_safetensors() -> None:
    """ExportError, naming the extra to install, if `safetensors` cannot be imported."""
    _safetensors_save()


def write(path: str | os.PathLike, params: dict, cfg: ModelConfig, task: dict) -> dict[str, np.ndarray]:
    """Write the state dict and metadata to `path` atomically (a temporary file beside it,
    synced, then renamed over it; nothing is left behind on failure). Returns the state dict."""
    save = _safetensors_save()
    state = torch_state_dict(params, cfg)
    data = save(state, metadata=metadata(cfg, task))
    try:
        files.write_atomic(path, lambda f: f.write(data))
    except OSError as err:
        raise ExportError(f"{path}: cannot be written ({err.strerror or err})") from None
    return state


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The "tfnp" record of a file this module wrote, or None for any other file (not a
    safetensors file, or one without our record). Reads the header alone, in plain Python."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                return None
            (n,) = struct.unpack("<Q", raw)  # the JSON header's length in bytes
            if n > MAX_HEADER:
                return None
            header = json.loads(f.read(n).decode("utf-8"))
        record = json.loads(header["__metadata__"][METADATA_KEY])
    except (OSError, ValueError, KeyError, TypeError):  # JSON and UTF-8 errors are ValueErrors
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None
