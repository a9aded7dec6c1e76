"""Optimizers, global-norm gradient clipping and learning-rate schedules.

Every optimizer turns a gradient g into an update u, and the caller takes p <- p - u:

    sgd       u = lr g
    momentum  v <- mu v + g;                       u = lr v
    adam      m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2
              u = lr mhat / (sqrt(shat) + eps),   mhat = m / (1 - b1^t),  shat = s / (1 - b2^t)
    adamw     adam's u + lr wd p  for weight matrices and the embedding (decoupled decay;
              LayerNorm gains and biases and every bias vector are not decayed)

They work on the flat parameter vector (engine/runtime/layout.py): one update is a few
NumPy calls over all parameters at once, not a few per tensor. One step is three lines:

    u = optimizer.updates(p, g, lr)   every u; the parameters and the optimizer's state untouched
    optimizer.commit()                the new state (waiting in spare buffers) becomes the state
    p -= u

So the trainer can refuse a non-finite update and leave everything as it was, and report
each tensor's update-to-weight ratio. Optimizer state (momenta, moments, t) is plain
arrays, saved in checkpoints so a resumed run continues exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ..runtime.backend import array_module
from ..runtime.fused import fused
from ..runtime.layout import ParamLayout


class Optimizer:
    """Base class. Works on the flat parameter vector (see engine/runtime/layout.py); state
    arrays have its size and are created on the first step."""

    state_names: tuple[str, ...] = ()

    def __init__(self, layout: ParamLayout | None = None) -> None:
        self.layout = layout  # which entries belong to which tensor (AdamW decays matrices only)
        self.t = 0  # optimizer steps taken
        self.state: dict = {}  # kind -> flat array
        self._next: dict = {}  # kind -> the state that updates() computed, until commit()
        self._spare: dict = {}  # kind -> last step's state array, reused for the next one
        self._pending = False  # updates() computed a step that commit() has not taken yet
        self._temporary = None  # the fused passes' scratch on the CPU (_scratch)

    def updates(self, p, g, lr: float):
        """u for flat parameters p and flat gradient g (P,); leaves p and the state alone."""
        self._next = {}
        self._pending = True
        return self.update(p, g, float(lr), self.t + 1)  # a NumPy float64 lr would make u float64

    def update(self, p, g, lr: float, t: int):
        """u for step t (1-based); new state goes into the buffers that _advance hands out."""
        raise NotImplementedError

    def commit(self, keep=None) -> None:
        """Take the step that the last updates() computed: its state becomes the state.

        keep, a 0-d bool array on the device: where it is False the state stays what it was
        (the trainer's refusal decided on a GPU without a transfer; it sets t back when it
        learns of it)."""
        if not self._pending:
            raise RuntimeError("commit() without updates(): there is no step to take")
        self._pending = False
        self.t += 1
        for kind, new in self._next.items():
            if kind in self.state:
                if keep is not None:
                    keep_if[array_module(new)](new, self.state[kind], keep)
                self._spare[kind] = self.state[kind]
            self.state[kind] = new
        self._next = {}

    def _advance(self, kind: str, like):
        """(the state array `kind`, zeros at first; a buffer for its next value)."""
        xp = array_module(like)
        if kind not in self.state:
            self.state[kind] = xp.zeros_like(like)
        new = self._spare.pop(kind, None)
        if new is None or new.shape != like.shape:
            new = xp.empty_like(like)
        self._next[kind] = new
        return self.state[kind], new

    def _scratch(self, like):
        """A temporary the size of the parameters for the fused passes: kept from step to step
        on the CPU; None on a GPU, where a fused kernel keeps its temporaries in registers."""
        if array_module(like) is not np:
            return None
        if self._temporary is None or self._temporary.shape != like.shape or self._temporary.dtype != like.dtype:
            self._temporary = np.empty_like(like)
        return self._temporary

    def state_arrays(self) -> dict:
        """{kind: flat array}: what a checkpoint stores."""
        return dict(self.state)

    def load_state_arrays(self, t: int, arrays: dict, xp, dtype) -> None:
        """Replace the state with `arrays` (as from state_arrays), cast to `dtype`."""
        unknown = set(arrays) - set(self.state_names)
        if unknown:
            raise ValueError(f"optimizer state {sorted(unknown)} is not {type(self).__name__}'s")
        missing = set(self.state_names) - set(arrays) if t > 0 else set()
        if missing:
            raise ValueError(f"optimizer state {', '.join(sorted(missing))} is missing after {t} steps")
        size = None if self.layout is None else self.layout.size
        for kind, a in arrays.items():
            if size is not None and a.shape != (size,):
                raise ValueError(f"optimizer state {kind} has shape {a.shape}, not ({size},)")
        state = {kind: xp.asarray(a, dtype=dtype) for kind, a in arrays.items()}  # may raise: nothing changed yet
        self.t, self.state, self._next, self._spare = t, state, {}, {}


class SGD(Optimizer):
    """Plain stochastic gradient descent (the original setup)."""

    def update(self, p, g, lr, t):
        return lr * g


class Momentum(Optimizer):
    """SGD with (heavy-ball) momentum, as torch.optim.SGD(momentum=mu)."""

    state_names = ("velocity",)

    def __init__(self, momentum: float = 0.9, layout: ParamLayout | None = None) -> None:
        super().__init__(layout)
        self.momentum = momentum

    def update(self, p, g, lr, t):
        xp = array_module(p)
        v, v_next = self._advance("velocity", p)
        u = xp.empty_like(p)
        momentum_step[xp](v, g, v_next, u, self.momentum, lr)  # one fused kernel on a GPU
        return u


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction."""

    state_names = ("m", "s")

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, layout: ParamLayout | None = None) -> None:
        super().__init__(layout)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, p, g, lr, t):
        xp = array_module(p)
        m_prev, m = self._advance("m", p)
        s_prev, s = self._advance("s", p)
        u = xp.empty_like(p)
        m_hat_scale = 1.0 / (1.0 - self.beta1**t)  # Python floats keep float32 float32
        s_hat_scale = 1.0 / (1.0 - self.beta2**t)
        b1, b2 = self.beta1, self.beta2
        constants = (b1, 1.0 - b1, b2, 1.0 - b2, lr * m_hat_scale, s_hat_scale, self.eps)
        adam_step[xp](m_prev, s_prev, g, m, s, u, *constants, self._scratch(p))
        return u


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019) on matrices only."""

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, layout=None) -> None:
        super().__init__(beta1, beta2, eps, layout)
        self.weight_decay = weight_decay
        self._mask = None  # 1.0 on the entries that decay
        self._mask_layout = None  # the layout the mask was made for

    def update(self, p, g, lr, t):
        if self.layout is None:
            raise ValueError("AdamW needs the parameter layout (layout=...): it decays the matrices only")
        u = super().update(p, g, lr, t)
        if self._mask_layout is not self.layout:  # made on the first step, and again for another layout
            self._mask, self._mask_layout = self.layout.matrix_mask(p.dtype, array_module(p)), self.layout
        decoupled_decay[array_module(p)](u, self._mask, p, lr * self.weight_decay, self._scratch(p))
        return u


# --------------------------------------------------------------- the fused passes
# Each is one pass over every parameter: one kernel on a GPU (engine/runtime/fused.py), the
# same NumPy calls on the CPU. Outputs are written in place (out=) into array arguments; the
# temporary is a scratch argument (the optimizer's, kept from step to step, on the CPU; None
# on a GPU: registers). Constants such as 1 - b1 come in as Python numbers computed outside:
# inside a fused kernel a number computed from an argument would be a float64 and widen
# float32 math.


@fused
def momentum_step(xp):
    def kernel(v_prev, g, v, u, mu, lr):
        xp.multiply(v_prev, mu, out=v)
        v += g  # v = mu v_prev + g
        xp.multiply(v, lr, out=u)  # u = lr v

    return kernel


@fused
def adam_step(xp):
    def kernel(m_prev, s_prev, g, m, s, u, b1, one_minus_b1, b2, one_minus_b2, lr_m_scale, s_scale, eps, scratch):
        xp.multiply(m_prev, b1, out=m)
        m += xp.multiply(g, one_minus_b1, out=scratch)  # m = b1 m_prev + (1 - b1) g
        xp.multiply(s_prev, b2, out=s)
        g2 = xp.multiply(g, g, out=scratch)
        g2 *= one_minus_b2
        s += g2  # s = b2 s_prev + (1 - b2) g^2
        root = xp.multiply(s, s_scale, out=scratch)  # shat
        xp.sqrt(root, out=root)
        root += eps
        xp.multiply(m, lr_m_scale, out=u)  # lr mhat
        u /= root  # u = lr mhat / (sqrt(shat) + eps)

    return kernel


@fused
def decoupled_decay(xp):
    def kernel(u, mask, p, lr_wd, scratch):
        decay = xp.multiply(mask, p, out=scratch)
        decay *= lr_wd
        u += decay  # AdamW: u += lr wd p, on the decayed entries

    return kernel


@fused
def keep_if(xp):
    def kernel(new, old, keep):  # new stays new where keep (0-d bool), else becomes old again
        new[...] = xp.where(keep, new, old)

    return kernel


@fused
def step_if(xp):
    def kernel(p, u, ok):  # p -= u where ok (0-d bool), else p stays
        p -= xp.where(ok, u, 0.0)

    return kernel


def make_optimizer(name: str, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                   layout: ParamLayout | None = None) -> Optimizer:  # fmt: skip
    """The optimizer called `name` (sgd | momentum | adam | adamw)."""
    if name == "sgd":
        return SGD(layout)
    if name == "momentum":
        return Momentum(momentum, layout)
    if name == "adam":
        return Adam(beta1, beta2, eps, layout)
    if name == "adamw":
        return AdamW(beta1, beta2, eps, weight_decay, layout)
    raise ValueError(f"optimizer: unknown {name!r}")


def clip_gradients(grads, norm, max_norm: float):
    """Scale the gradients in place by max_norm / norm when norm > max_norm (> 0): a flat
    gradient array, or a dict of them. Returns the factor applied (1.0 when not clipped).

    norm may be a 0-d device array (the trainer's on a GPU): then the factor is computed on
    the device, without a transfer to the host, and returned as a 0-d array."""
    if max_norm <= 0:
        return 1.0
    arrays = list(grads.values()) if isinstance(grads, dict) else [grads]
    if array_module(norm) is np:  # a number on the host (a float, or a 0-d NumPy array)
        norm = float(norm)
        if norm <= max_norm:
            return 1.0
        factor = max_norm / (norm + 1e-6)  # a Python float: float32 gradients stay float32
    else:
        xp = array_module(norm)
        factor = xp.where(norm > max_norm, max_norm / (norm + 1e-6), 1.0).astype(arrays[0].dtype)
    for g in arrays:
        g *= factor
    return factor


def learning_rate(step: int, base_lr: float, schedule: str, warmup: int, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Linear warm-up from base_lr/warmup to base_lr over the first `warmup` steps, then
    constant, or (cosine) half a cosine from base_lr down to 0 at total_steps."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        span = max(total_steps - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"schedule: unknown {schedule!r}")
