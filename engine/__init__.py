"""tfnp engine: a Transformer encoder in NumPy with every backward pass written by hand."""

from .config import ModelConfig, TrainConfig
from .model import TransformerEncoder

__all__ = ["ModelConfig", "TrainConfig", "TransformerEncoder"]
