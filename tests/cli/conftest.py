"""Helpers for the command-line tests: run the real ``fusionkit`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusionkit.samples import sample_path


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m fusionkit.cli ARGS`` with stdout and stderr captured (neither is a terminal)."""
    env = {k: v for k, v in os.environ.items() if k != "FUSIONKIT_STUDIO"}
    return subprocess.run([sys.executable, "-m", "fusionkit.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def run_cli_on_terminal(*args: str | Path, timeout: float = 120,
                        interrupt_on: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Run ``fusionkit ARGS`` with stderr on a pseudo-terminal: (exit status, stdout, what the terminal showed).

    With ``interrupt_on``, Ctrl-C (SIGINT) is sent once the terminal shows that text (or after ``timeout``): the
    moment the command is at work, however slow the machine, not a fixed delay that could land in the
    interpreter's start-up.
    """
    import pty
    import select
    import signal
    import time

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "FUSIONKIT_STUDIO"}
    proc = subprocess.Popen([sys.executable, "-m", "fusionkit.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = b""

    def read(wait: float) -> bool:
        """Append what the terminal shows within ``wait`` seconds; False once it is closed or quiet."""
        nonlocal seen
        if not select.select([master], [], [], wait)[0]:
            return False
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other side closed
            return False
        seen += chunk
        return bool(chunk)

    if interrupt_on is not None:
        deadline = time.monotonic() + timeout
        while interrupt_on not in seen and time.monotonic() < deadline:
            read(1.0)
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=timeout)
    while read(5.0):
        pass
    os.close(master)
    return proc.returncode, out, seen


def assert_error(proc: subprocess.CompletedProcess[str], rc: int, code: str) -> str:
    """The command failed with ``rc`` and printed one line carrying ``code`` on stderr, no traceback."""
    assert proc.returncode == rc, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"[{code}]" in lines[0], lines[0]
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def blank_png(tmp_path: Path) -> Path:
    """A 200 x 200 grey picture: no face anywhere."""
    import cv2

    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((200, 200, 3), 128, np.uint8))
    return path


@pytest.fixture
def samples() -> dict[str, Path]:
    return {name: sample_path(name) for name in ("obama.jpg", "obama3.jpg", "biden.jpg", "astronaut.png",
                                                 "two_people.jpg")}
