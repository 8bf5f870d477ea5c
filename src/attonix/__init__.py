"""Attonix: one blueprint, every layer, secure and highly available by construction."""

from attonix.errors import Error

__all__ = ["Error", "__version__"]
__version__ = "0.1.0"
