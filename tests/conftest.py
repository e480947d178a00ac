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


# The studio encrypts new stores under the default master key file; the tests' key lives in a folder of their own
# (made 0600 by the studio on first use), never in the user's ~/.config. A test that needs another key says so.
if "FUSIONKIT_KEY_FILE" not in os.environ:
    import tempfile

    os.environ["FUSIONKIT_KEY_FILE"] = os.path.join(tempfile.mkdtemp(prefix="fusionkit-test-keys-"), "master.key")
os.environ.pop("FUSIONKIT_MASTER_KEY", None)


# moto's S3 server, once per session, for every test that asks for it (tests/s3server.py): stores, studios, claims
# and the fault tests run on S3 over HTTP against it.
from tests.s3server import s3_bucket, s3_server  # noqa: E402, F401
