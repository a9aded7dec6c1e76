"""Optimizers, global-norm gradient clipping and learning-rate schedules.

Every optimizer turns a gradient g into an update u and applies p <- p - u in place:

    sgd       u = lr g
    momentum  v <- mu v + g;                       u = lr v
    adam      m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2
              u = lr mhat / (sqrt(shat) + eps),   mhat = m / (1 - b1^t),  shat = s / (1 - b2^t)
    adamw     adam's u + lr wd p  for weight matrices and the embedding (decoupled decay;
              LayerNorm gains and biases and every bias vector are not decayed)

`updates` computes every u (advancing the optimizer's state) without touching the
parameters, so the trainer can refuse a non-finite update and report each tensor's
update-to-weight ratio; `step` computes and applies them in one call. Optimizer state
(momenta, moments, t) is plain arrays, saved in checkpoints so a resumed run continues
exactly.
"""

from __future__ import annotations

import math

from .backend import array_module


class Optimizer:
    """Base class: per-parameter state arrays, created lazily on the first step."""

    state_names: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.t = 0  # optimizer steps taken
        self.state: dict[str, dict] = {name: {} for name in self.state_names}

    def updates(self, params: dict, grads: dict, lr: float) -> dict:
        """{name: u} for one step; advances the state, leaves the parameters alone."""
        self.t += 1
        return {name: self.update(name, p, grads[name], lr) for name, p in params.items()}

    def step(self, params: dict, grads: dict, lr: float) -> dict:
        """One step: p <- p - u in place for every parameter; returns the updates."""
        updates = self.updates(params, grads, lr)
        apply_updates(params, updates)
        return updates

    def update(self, name: str, p, g, lr: float):
        raise NotImplementedError

    def _buffer(self, kind: str, name: str, like):
        """The state array `kind` for parameter `name`, zeros at first."""
        buf = self.state[kind].get(name)
        if buf is None:
            buf = self.state[kind][name] = array_module(like).zeros_like(like)
        return buf

    def state_arrays(self) -> dict:
        """Flat {"<kind>/<param>": array} of the state (what a checkpoint stores)."""
        return {f"{kind}/{name}": a for kind, d in self.state.items() for name, a in d.items()}

    def load_state_arrays(self, t: int, arrays: dict, xp, dtype) -> None:
        """Replace the state with `arrays` (as from state_arrays), cast to `dtype`."""
        self.t = t
        self.state = {name: {} for name in self.state_names}
        for key, a in arrays.items():
            kind, name = key.split("/", 1)
            self.state[kind][name] = xp.asarray(a, dtype=dtype)


class SGD(Optimizer):
    """Plain stochastic gradient descent (the original setup)."""

    def update(self, name, p, g, lr):
        return lr * g


class Momentum(Optimizer):
    """SGD with (heavy-ball) momentum, as torch.optim.SGD(momentum=mu)."""

    state_names = ("velocity",)

    def __init__(self, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = momentum

    def update(self, name, p, g, lr):
        v = self._buffer("velocity", name, p)
        v *= self.momentum
        v += g
        return lr * v


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction."""

    state_names = ("m", "s")

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__()
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def update(self, name, p, g, lr):
        xp = array_module(p)
        m = self._buffer("m", name, p)
        s = self._buffer("s", name, p)
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        s *= self.beta2
        s += (1.0 - self.beta2) * (g * g)
        m_hat_scale = 1.0 / (1.0 - self.beta1**self.t)  # Python floats keep float32 float32
        s_hat_scale = 1.0 / (1.0 - self.beta2**self.t)
        return (lr * m_hat_scale) * m / (xp.sqrt(s * s_hat_scale) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019) on matrices only."""

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(beta1, beta2, eps)
        self.weight_decay = weight_decay

    def update(self, name, p, g, lr):
        u = super().update(name, p, g, lr)
        if decays(name, p):
            u += (lr * self.weight_decay) * p
        return u


def apply_updates(params: dict, updates: dict) -> None:
    """p <- p - u, in place, for every parameter."""
    for name, u in updates.items():
        params[name] -= u


def decays(name: str, p) -> bool:
    """Weight decay applies to weight matrices and the embedding, not to vectors
    (biases, LayerNorm gains and biases)."""
    return p.ndim >= 2


def make_optimizer(name: str, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01) -> Optimizer:
    """The optimizer called `name` (sgd | momentum | adam | adamw)."""
    if name == "sgd":
        return SGD()
    if name == "momentum":
        return Momentum(momentum)
    if name == "adam":
        return Adam(beta1, beta2, eps)
    if name == "adamw":
        return AdamW(beta1, beta2, eps, weight_decay)
    raise ValueError(f"optimizer: unknown {name!r}")


def global_norm(sq_norms) -> float:
    """sqrt of the sum of every tensor's squared norm."""
    return math.sqrt(float(sum(sq_norms)))


def clip_gradients(grads: dict, norm: float, max_norm: float) -> float:
    """Scale every gradient in place by max_norm / norm when norm > max_norm (> 0).

    Returns the factor applied (1.0 when nothing was clipped)."""
    if max_norm <= 0 or norm <= max_norm:
        return 1.0
    factor = max_norm / (norm + 1e-6)
    for g in grads.values():
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
