"""Keras callbacks: `ExplainCallback`, how a model's maps change while it trains."""

from .explain_callback import ExplainCallback

__all__ = ["ExplainCallback"]
