"""The package version, defined once (setup.py reads it from here)."""

__version__ = "0.2.0"
