"""Build glue: setuptools compiles csrc/ into fusionkit._core through cffi (API, out-of-line mode).

Everything else about the package lives in pyproject.toml.
"""

from setuptools import setup

setup(cffi_modules=["csrc/build_core.py:ffibuilder"])
