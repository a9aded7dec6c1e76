"""TransformerEncoder: the parameters, a forward pass that is a flat list of component calls,
and a backward pass that is the same list mirrored in reverse order.

Legend: B batch, T sequence (T <= seq_len), C d_model, H heads, F d_ff, V vocabulary,
L layers. Every component is a pure pair  forward(x, params) -> (y, cache)  /
backward(dy, cache) -> (dx, grads); this file only wires them together.

    x = embed[tokens] + PE[:T]
    post-LN (default):  x = LN1(x + attn(x));   x = LN2(x + ffn(x))
    pre-LN (norm_first): x = x + attn(LN1(x)); x = x + ffn(LN2(x));  after the last block x = ln_f(x)
    logits = x @ head.w + head.b;  loss = mean cross-entropy over targets != -1

The training path (loss_and_grads, forward_backward) writes its large arrays into buffers of
a Workspace (runtime/workspace.py), reused from step to step instead of allocated afresh.

Dropout (training only: forward(..., dropout=source), components/dropout.py) sits where
torch.nn.TransformerEncoderLayer puts it: on the attention weights after the softmax, on
the feed-forward's hidden units after the activation, and on the outputs of attention and
feed-forward before each residual add (PyTorch's dropout1 and dropout2):
    post-LN: x = LN1(x + drop(attn(x)));  pre-LN: x = x + drop(attn(LN1(x))), and likewise for ffn.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .components import attention, embedding, feedforward, layernorm, linear, loss
from .components import dropout as drop
from .components.positional import sinusoidal
from .config import ModelConfig
from .params import init_params, param_shapes
from .runtime.backend import get_backend, to_numpy
from .runtime.layout import ParamLayout
from .runtime.workspace import ThreadWorkspaces

ATTN = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")
FFN = ("w1", "b1", "w2", "b2")


class BlockMasks(NamedTuple):
    """One block's dropout masks (components/dropout.py), in the order of its forward pass."""

    attn: object  # (B, H, T, T) on the attention weights, after the softmax
    attn_out: object  # (B, T, C) on attention's output, before the residual add (PyTorch's dropout1)
    ffn: object  # (B, T, F) on the feed-forward's hidden units, after the activation (PyTorch's dropout)
    ffn_out: object  # (B, T, C) on the feed-forward's output, before the residual add (dropout2)


NO_MASKS = BlockMasks(None, None, None, None)  # dropout off: every site passes its input through


class BlockParams(NamedTuple):
    """One block's parameters, as its components take them: views of the model's flat array,
    grouped once, when the model is made. Change a parameter by writing into it
    (model.params[name][...] = value); a new array put under its name would not be seen."""

    attn: dict  # the local names of ATTN -> (C, C) or (C,)
    ln1: tuple  # (gamma, beta), (C,) each
    ffn: dict  # the local names of FFN -> (C, F), (F,), (F, C), (C,)
    ln2: tuple  # (gamma, beta), (C,) each


class BlockCache(NamedTuple):
    attn: attention.AttentionCache
    ln1: layernorm.LayerNormCache
    ffn: feedforward.FeedForwardCache
    ln2: layernorm.LayerNormCache
    out: object  # (B, T, C) the residual stream after the block (read by the logit lens)
    drop: BlockMasks = NO_MASKS  # the block's dropout masks; NO_MASKS when dropout is off


class ModelCache(NamedTuple):
    embedding: embedding.EmbeddingCache
    blocks: list[BlockCache]
    ln_f: layernorm.LayerNormCache | None  # only when norm_first
    head: linear.LinearCache
    ws: object = None  # the Workspace the pass's arrays came from (runtime/workspace.py); None: fresh ones


class TransformerEncoder:
    """A Transformer encoder with hand-written forward and backward passes.

    model = TransformerEncoder(ModelConfig(), seed=0)
    loss, grads = model.loss_and_grads(tokens, targets)   # tokens, targets: int (B, T)

    model.params maps the pinned names to views of one flat array, model.flat (layout in
    model.layout): an optimizer can update every parameter in one pass over model.flat.
    """

    def __init__(self, cfg: ModelConfig, seed: int = 0, device: str = "cpu", params=None):
        self.cfg = cfg
        self.device = device
        self.xp = get_backend(device)
        self.layout = ParamLayout(param_shapes(cfg))
        self.flat = self.xp.zeros(self.layout.size, dtype=cfg.dtype)  # every parameter, end to end
        self.params = self.layout.views(self.flat)  # named views: writing one writes self.flat
        source = init_params(cfg, seed) if params is None else params
        for name, view in self.params.items():
            value = self.xp.asarray(source[name], dtype=cfg.dtype)
            if value.shape != view.shape:
                raise ValueError(f"parameter {name} has shape {value.shape}, the config needs {view.shape}")
            view[...] = value
        self.block_params = [self._block_params(f"layers.{i}.") for i in range(cfg.n_layers)]  # grouped once
        self.pe = self.xp.asarray(sinusoidal(cfg.seq_len, cfg.d_model, cfg.dtype))  # (seq_len, C)
        self.workspaces = ThreadWorkspaces(cfg, self.xp)  # the training path's arrays, reused from step to step
        self._grad_views: tuple = (None, None)  # (the last grad_out, its named views)

    @property
    def num_params(self) -> int:
        return self.layout.size

    def params_numpy(self) -> dict[str, np.ndarray]:
        """Host copies of the parameters, in model order (what checkpoints store): named views
        of one copy of the flat array, made in one transfer from the GPU."""
        return self.layout.views(to_numpy(self.flat).copy())

    def _block_params(self, p: str) -> BlockParams:
        """The parameters of the block whose names start with p ("layers.0.")."""
        P = self.params
        return BlockParams(
            {name: P[p + "attn." + name] for name in ATTN}, (P[p + "ln1.gamma"], P[p + "ln1.beta"]),
            {name: P[p + "ffn." + name] for name in FFN}, (P[p + "ln2.gamma"], P[p + "ln2.beta"]),
        )  # fmt: skip

    def _tokens(self, tokens):
        tokens = self.xp.asarray(tokens)
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise ValueError(f"tokens must be an int array of shape (B, T), got {tokens.dtype} {tokens.shape}")
        if not 1 <= tokens.shape[1] <= self.cfg.seq_len:
            raise ValueError(f"sequence length {tokens.shape[1]} is outside 1..seq_len {self.cfg.seq_len}")
        return tokens

    # ----------------------------------------------------------------------------- forward
    def forward(self, tokens, x0=None, knockout: tuple[int, int] | None = None, head_mask=None, dropout=None,
                validate: bool = True, ws=None):  # fmt: skip
        """tokens (B, T) int -> logits (B, T, V), cache.

        x0 (B, T, C), if given, replaces embed[tokens] + PE: the gradient check uses it to
        perturb the input embeddings themselves. For analysis only: knockout (layer, head),
        both 0-based: that head's output is zeroed before its layer's output projection;
        head_mask (L, B, H): every head's output multiplied by it, sequence by sequence.
        For training only: dropout, a mask source (components/dropout.py: Dropout or Fixed);
        None or p 0 is no dropout at all (nothing drawn, nothing multiplied). validate False
        skips the check that every id is in the vocabulary, for tokens checked once before
        (the trainer's: on a GPU the check is a transfer to the host). ws: the training path's
        Workspace (runtime/workspace.py), which loss_and_grads and forward_backward pass: the
        pass's large arrays, logits and caches included, are its buffers, handed out again once
        nothing refers to them. Analysis, evaluation, probes and generation pass none."""
        cfg, P = self.cfg, self.params
        if validate and self.xp is not np and isinstance(tokens, np.ndarray):
            embedding.check_tokens(tokens, cfg.vocab_size)  # here on the host: no transfer back from the device
            validate = False
        tokens = self._tokens(tokens)
        B, T = tokens.shape
        masks = self._dropout_masks(dropout, B, T)  # one BlockMasks a layer
        if knockout is not None:
            if head_mask is not None:
                raise ValueError("give a knockout or a head_mask, not both")
            head_mask = self.xp.ones((cfg.n_layers, B, cfg.n_heads), dtype=cfg.dtype)
            head_mask[knockout[0], :, knockout[1]] = 0
        x, c_embed = embedding.forward(tokens, P["embed"], validate, ws)  # (B, T, C), a new array
        if x0 is None:
            x += self.pe[:T]
        else:
            x = self.xp.asarray(x0, dtype=cfg.dtype)  # (B, T, C)
        blocks = []
        for i in range(cfg.n_layers):
            block = self._block_forward_pre if cfg.norm_first else self._block_forward_post
            x, c_block = block(x, self.block_params[i], None if head_mask is None else head_mask[i], masks[i], ws)
            blocks.append(c_block)  # x: (B, T, C)
        c_ln_f = None
        if cfg.norm_first:
            x, c_ln_f = layernorm.forward(x, P["ln_f.gamma"], P["ln_f.beta"], ws)  # (B, T, C)
        logits, c_head = linear.forward(x, P["head.w"], P["head.b"], ws)  # (B, T, V)
        return logits, ModelCache(c_embed, blocks, c_ln_f, c_head, ws)

    def _dropout_masks(self, dropout, B: int, T: int) -> list[BlockMasks]:
        """Every mask of one forward pass, drawn in model order (layer by layer, each block's
        sites in BlockMasks' order); NO_MASKS for every layer when dropout is None or p is 0."""
        cfg = self.cfg
        if dropout is None or dropout.p == 0:
            return [NO_MASKS] * cfg.n_layers
        C, H, F = cfg.d_model, cfg.n_heads, cfg.d_ff
        shapes = [(B, H, T, T), (B, T, C), (B, T, F), (B, T, C)] * cfg.n_layers
        masks = dropout.masks(shapes, cfg.dtype, self.xp)
        return [BlockMasks(*masks[4 * i : 4 * i + 4]) for i in range(cfg.n_layers)]

    def _block_forward_post(self, x, p: BlockParams, head_mask=None, m: BlockMasks = NO_MASKS, ws=None):
        """Post-LN block (the original): x = LN1(x + drop(attn(x))); x = LN2(x + drop(ffn(x)))."""
        cfg = self.cfg
        # each sublayer's output comes out as drop(sublayer(x)) + x: the residual, summed in its last pass
        a, c_attn = attention.forward(x, p.attn, cfg.n_heads, cfg.causal, head_mask, m.attn, ws, m.attn_out, x)
        x, c_ln1 = layernorm.forward(a, *p.ln1, ws)
        f, c_ffn = feedforward.forward(x, p.ffn, cfg.activation, m.ffn, ws, m.ffn_out, x)
        x, c_ln2 = layernorm.forward(f, *p.ln2, ws)
        return x, BlockCache(c_attn, c_ln1, c_ffn, c_ln2, x, m)

    def _block_forward_pre(self, x, p: BlockParams, head_mask=None, m: BlockMasks = NO_MASKS, ws=None):
        """Pre-LN block: x = x + drop(attn(LN1(x))); x = x + drop(ffn(LN2(x)))."""
        cfg = self.cfg
        h, c_ln1 = layernorm.forward(x, *p.ln1, ws)
        # each sublayer's output comes out as x + drop(sublayer(h)): the residual, summed in its last pass
        x, c_attn = attention.forward(h, p.attn, cfg.n_heads, cfg.causal, head_mask, m.attn, ws, m.attn_out, x)
        h, c_ln2 = layernorm.forward(x, *p.ln2, ws)
        x, c_ffn = feedforward.forward(h, p.ffn, cfg.activation, m.ffn, ws, m.ffn_out, x)
        return x, BlockCache(c_attn, c_ln1, c_ffn, c_ln2, x, m)

    # ---------------------------------------------------------------------------- backward
    def backward(self, dlogits, cache: ModelCache, grad_out=None):
        """dlogits (B, T, V) -> (grads with the keys of params, dx0 (B, T, C)).

        The forward calls, mirrored in reverse; dx0 is the gradient w.r.t. embed[tokens] + PE.
        Each backward takes its arrays from the workspace its forward had (in its cache), if
        any. grad_out, if given: a flat (P,) array in self.layout's order that every gradient
        is written into; grads are then views of it (the caller's, whatever the workspace)."""
        # by name in model order, each set as its backward has it
        grads = dict.fromkeys(self.params) if grad_out is None else _WrittenInto(self._views_of(grad_out))
        dx, g = linear.backward(dlogits, cache.head)  # (B, T, C)
        _put(grads, "head.", g)
        if self.cfg.norm_first:
            dx, g = layernorm.backward(dx, cache.ln_f)  # (B, T, C)
            _put(grads, "ln_f.", g)
        for i in reversed(range(self.cfg.n_layers)):
            block = self._block_backward_pre if self.cfg.norm_first else self._block_backward_post
            dx = block(dx, cache.blocks[i], grads, f"layers.{i}.")  # (B, T, C)
        # x = embed[tokens] + PE: the positional table has no parameters, dx flows through
        _put(grads, "", embedding.backward(dx, cache.embedding))
        return dict(grads), dx

    @staticmethod
    def _block_backward_post(dx, c: BlockCache, grads: dict, p: str):
        """Mirror of _block_forward_post; the residual adds the gradient of both branches."""
        dr, g = layernorm.backward(dx, c.ln2)  # r = x + drop(ffn(x))
        _put(grads, p + "ln2.", g)
        dx, g = feedforward.backward(drop.backward(dr, c.drop.ffn_out), c.ffn)
        _put(grads, p + "ffn.", g)
        dx += dr
        dr, g = layernorm.backward(dx, c.ln1)  # r = x + drop(attn(x))
        _put(grads, p + "ln1.", g)
        dx, g = attention.backward(drop.backward(dr, c.drop.attn_out), c.attn)
        _put(grads, p + "attn.", g)
        dx += dr
        return dx

    @staticmethod
    def _block_backward_pre(dx, c: BlockCache, grads: dict, p: str):
        """Mirror of _block_forward_pre."""
        dh, g = feedforward.backward(drop.backward(dx, c.drop.ffn_out), c.ffn)  # x = x + drop(ffn(LN2(x)))
        _put(grads, p + "ffn.", g)
        dh, g = layernorm.backward(dh, c.ln2)
        _put(grads, p + "ln2.", g)
        dx += dh  # dx is this pass's own array: nothing reads it after the ffn's backward
        dh, g = attention.backward(drop.backward(dx, c.drop.attn_out), c.attn)  # x = x + drop(attn(LN1(x)))
        _put(grads, p + "attn.", g)
        dh, g = layernorm.backward(dh, c.ln1)
        _put(grads, p + "ln1.", g)
        dx += dh
        return dx

    # ------------------------------------------------------------------------------- loss
    def loss_and_grads(self, tokens, targets, dropout=None):
        """tokens, targets (B, T) int; a target of -1 does not count -> (loss: float, grads).
        dropout: a mask source, as in forward (training only). The grads are the caller's to
        keep: a later call never writes over an array anyone holds (runtime/workspace.py)."""
        tokens = self._tokens(tokens)
        ws = self.workspaces.for_pass(*tokens.shape)
        logits, cache = self.forward(tokens, dropout=dropout, ws=ws)
        value, c_loss = loss.forward(logits, self.xp.asarray(targets), ws)  # checks the targets
        grads, _ = self.backward(loss.backward(1.0, c_loss), cache)
        return value, grads

    def forward_backward(self, tokens, targets, dropout=None, grad_out=None):
        """The trainer's loss_and_grads, for tokens and targets checked once before: nothing
        is checked and nothing leaves the device. -> (loss, grads, logits (B, T, V)); the loss is
        a 0-d array on a GPU, a Python float on the CPU.

        grad_out: a flat (P,) array in self.layout's order (the trainer's gradient vector) that
        every gradient is written into, each as soon as its backward has it; grads are then
        views of it. The logits and (without grad_out) the grads are arrays of the model's
        workspace, the caller's for as long as it holds them, as in loss_and_grads."""
        tokens = self._tokens(tokens)
        ws = self.workspaces.for_pass(*tokens.shape)
        logits, cache = self.forward(tokens, dropout=dropout, validate=False, ws=ws)
        value, c_loss = loss.mean_loss(logits, self.xp.asarray(targets), ws)
        grads, _ = self.backward(loss.backward(1.0, c_loss), cache, grad_out)
        return value, grads, logits

    # -------------------------------------------------------------------------- workspace
    def release_workspace(self) -> None:
        """Let this thread's workspace go; the next training pass allocates afresh."""
        self.workspaces.release()

    def _views_of(self, grad_out) -> dict:
        """self.layout.views(grad_out), kept for the trainer's gradient vector, which comes back every step."""
        held, views = self._grad_views
        if held is not grad_out:
            views = self.layout.views(grad_out)
            self._grad_views = (grad_out, views)
        return views


def _put(grads: dict, prefix: str, local: dict) -> None:
    for name, g in local.items():
        grads[prefix + name] = g


class _WrittenInto(dict):
    """Gradients by name, each written into the array this dict starts with under its name (a
    view of backward's grad_out) when it is set: the component's own array is free again at once."""

    def __setitem__(self, name: str, g) -> None:
        self[name][...] = g
