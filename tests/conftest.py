"""Test-wide settings.

Under CI (the CI environment variable set) hypothesis runs derandomized, so a run is reproducible and a red CI
always means a real regression; locally it explores new examples on every run, which is where it finds bugs.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
