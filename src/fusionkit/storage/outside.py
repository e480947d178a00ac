"""Writing to a URL outside the studio's store: a video result the user asked to receive at their own URL.

The data is written beside the target under a temporary name and moved into place only by :meth:`StagedWrite.commit`
(a job known not to be cancelled); :meth:`StagedWrite.discard` removes it, leaving any file the user already had at
the target as it was. fsspec is imported here, never in the studio.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import attrs

__all__ = ["StagedWrite", "known_protocol"]


def known_protocol(protocol: str) -> bool:
    """Whether fsspec knows the URL protocol ``protocol`` (its package may still be missing)."""
    import fsspec

    return protocol.lower() in fsspec.available_protocols()


@attrs.define
class StagedWrite:
    """Data staged beside a URL's target.

    Attributes
    ----------
    url
        The target URL.
    """

    url: str
    _fs: Any
    _temporary: str
    _final: str
    _done: bool = False

    @classmethod
    def stage(cls, url: str, data: bytes) -> StagedWrite:
        """Write ``data`` beside ``url``'s target under a temporary name (``<target>.fusionkit-<random>.tmp``)."""
        import fsspec

        fs, final = fsspec.core.url_to_fs(url)
        temporary = f"{final}.fusionkit-{secrets.token_hex(6)}.tmp"
        fs.pipe_file(temporary, data)
        return cls(url, fs, temporary, final)

    def commit(self) -> None:
        """Move the staged data onto the target."""
        self._fs.mv(self._temporary, self._final)
        self._done = True

    def discard(self) -> None:
        """Remove the staged data if it was not committed (the target stays as it was); never raises ``OSError``."""
        if not self._done:
            with contextlib.suppress(OSError):
                self._fs.rm_file(self._temporary)
            self._done = True
