"""The package version; the C core is compiled with the same string and checked against it on load."""

__version__ = "0.1.0"
