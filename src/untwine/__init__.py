"""untwine: learn and evaluate disentangled representations."""

__version__ = "0.1.0"

from . import data  # noqa: E402  (light: numpy + torch Dataset)

__all__ = ["data", "__version__"]
