"""actionlens: machine-written video annotations and how far to trust them."""

__version__ = "0.1.0"
