"""tfnp engine: a Transformer encoder in NumPy with every backward pass written by hand."""

from .config import ModelConfig, TrainConfig
from .model import TransformerEncoder

__version__ = "0.2.0"  # the project's version: pyproject.toml reads it from here

__all__ = ["__version__", "ModelConfig", "TrainConfig", "TransformerEncoder"]
