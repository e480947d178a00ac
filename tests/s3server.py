"""moto's S3 server on a loopback port: the tests that run stores, studios and claims on S3 over HTTP.

:func:`start_server` starts ``moto.server`` as a child process on ``127.0.0.1`` and a free port, waits until it
answers and returns an :class:`S3Server`; the session fixture ``s3_server`` starts one for the whole run (registered
for every test by tests/conftest.py) and ``s3_bucket`` gives each test a bucket of its own. The fault tests start
their own with :func:`start_server` (they stop it on purpose).

Nothing here can reach AWS or any other host: every client is given the loopback endpoint, dummy credentials and no
proxy, and the profile, config-file and endpoint variables of the user's environment are set aside for the session.
Without ``moto[server]`` (``pip install -e '.[test]'``) the tests that ask for a server are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

SKIP_REASON = "moto[server] is not installed: pip install -e '.[test]'"
HOST = "127.0.0.1"
REGION = "us-east-1"

# The child: moto's server, which exits when its standard input closes, so a test run that dies (SIGKILL, a crash)
# never leaves a server behind; the fixtures stop it in the ordinary way.
_CHILD = """
import os, sys, threading
def orphaned():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=orphaned, daemon=True).start()
from moto.server import main
main(["-H", sys.argv[1], "-p", sys.argv[2]])
"""

#: What the AWS SDK reads from the environment that could send a test elsewhere or fail it: a profile, shared
#: config and credential files, an endpoint. The tests' own options say everything.
_AWS_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
                    "AWS_REGION")


def have_moto() -> bool:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for port 0 on the loopback address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class S3Server:
    """One moto S3 server process on ``127.0.0.1:port``."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self.endpoint = f"http://{HOST}:{port}"

    def storage_options(self, *, endpoint: str | None = None, **extra: Any) -> dict[str, Any]:
        """What ``fusionkit.open`` and ``open_store`` take to reach this server (or ``endpoint``, another loopback
        address in front of it): dummy credentials, the loopback endpoint, no proxy; ``extra`` is added, and its
        ``config_kwargs`` (botocore's: ``connect_timeout``, ``read_timeout``, ``retries``) merged."""
        endpoint = endpoint or self.endpoint
        if not endpoint.startswith(f"http://{HOST}:"):
            raise ValueError(f"the tests' S3 endpoints are on {HOST}, not {endpoint}")
        options: dict[str, Any] = {
            "key": "fusionkit-test", "secret": "fusionkit-test",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": REGION},
        }
        config = {"proxies": {}, **extra.pop("config_kwargs", {})}
        options["config_kwargs"] = config
        options.update(extra)
        return options

    def client(self) -> Any:
        """A boto3 S3 client of this server: to look at buckets without fusionkit."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="fusionkit-test", aws_secret_access_key="fusionkit-test",
                            config=Config(proxies={}, retries={"max_attempts": 1}))

    def new_bucket(self) -> str:
        name = f"fk-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, straight from the server (boto3's paginated listing)."""
        found: list[str] = []
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            found.extend(str(o["Key"]) for o in page.get("Contents", []))
        return sorted(found)

    def answers(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
        try:
            with opener.open(f"{self.endpoint}/moto-api/", timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (the whole process, at once) and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()


def start_server(port: int | None = None, *, timeout: float = 30.0) -> S3Server:
    """Start moto's S3 server on ``port`` (a free one by default) and wait until it answers. A port another process
    took meanwhile is tried again with another (when ``port`` was not given)."""
    for _ in range(3):
        chosen = port or free_port()
        process = subprocess.Popen([sys.executable, "-c", _CHILD, HOST, str(chosen)], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "NO_PROXY": HOST, "no_proxy": HOST})
        server = S3Server(chosen, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if server.answers():
                return server
            time.sleep(0.05)
        server.stop()
        if port is not None:
            break
    raise RuntimeError(f"moto's S3 server did not answer on {HOST} within {timeout:.0f} s")


@contextlib.contextmanager
def isolated_environment() -> Iterator[None]:
    """The AWS SDK's profile, config-file, credential and endpoint variables set aside, and loopback never proxied,
    for the block."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_ENVIRONMENT:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("NO_PROXY", "no_proxy"):
            mp.setenv(name, ",".join(filter(None, [os.environ.get(name), HOST, "localhost"])))
        yield


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server for the whole session (started on first use, stopped at the end)."""
    if not have_moto():
        pytest.skip(SKIP_REASON)
    with isolated_environment():
        server = start_server()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket on the session's server, for one test."""
    return s3_server.new_bucket()
