"""Writing to a URL outside the studio's store: a video result the user asked to receive at their own URL.

The data is written beside the target under a temporary name and moved into place only by :meth:`StagedWrite.commit`
(a job known not to be cancelled); :meth:`StagedWrite.discard` removes it, leaving any file the user already had at
the target as it was. fsspec is imported here, never in the studio.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Sequence
from typing import Any

import attrs

from fusionkit.errors import ParameterValueError
from fusionkit.storage.backends import BlobStore, LocalStore
from fusionkit.storage.objects import FsspecStore

__all__ = ["OutputPolicy", "StagedWrite", "known_protocol"]


def known_protocol(protocol: str) -> bool:
    """Whether fsspec knows the URL protocol ``protocol`` (its package may still be missing)."""
    import fsspec

    return protocol.lower() in fsspec.available_protocols()


def _installed(protocol: str) -> bool:
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        return False
    return True


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _location(store: Any) -> tuple[str, str] | None:
    """(protocol, root path) of a store, seen through the wrappers that keep an ``inner`` store."""
    while not isinstance(store, (LocalStore, FsspecStore)) and hasattr(store, "inner"):
        store = store.inner
    if isinstance(store, LocalStore):
        return "file", os.path.realpath(store.root)
    if isinstance(store, FsspecStore):
        return store.protocol, "/" + str(store.root).strip("/")
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@attrs.frozen
class OutputPolicy:
    """Where a studio may write a result the caller asks to receive at their own URL (``user_designated_url``).

    Parameters
    ----------
    allowed
        URL prefixes the host allows (``"s3://campaign-out/"``, ``"file:///srv/results/"``; a plain path is a local
        folder). ``None`` (the default): local paths, and URLs of the studio's own fsspec protocol.
    store
        The studio's store: nothing may be written inside it, whatever ``allowed`` says.
    """

    allowed: tuple[str, ...] | None
    store: BlobStore

    @classmethod
    def of(cls, allowed: Sequence[str] | None, store: BlobStore) -> OutputPolicy:
        """The policy, with ``allowed`` checked and normalised (plain paths become ``file://`` URLs)."""
        if allowed is None:
            return cls(None, store)
        if isinstance(allowed, str) or not all(isinstance(a, str) and a for a in allowed):
            raise ParameterValueError("output_urls must be a list of URL prefixes such as ['s3://bucket/out/']")
        return cls(tuple(a if "://" in a else "file://" + os.path.abspath(a) for a in allowed), store)

    def check(self, url: Any) -> str:
        """``url`` when the studio may write a result there; else a typed error saying why, before any work.

        Raises
        ------
        ParameterValueError
            Not a URL; a protocol not allowed here or not installed; inside the studio's store; a folder, a special
            file (a device, a pipe) or a file in a folder that does not exist.
        """
        if not isinstance(url, str) or len(url) > 2048 or not url.isprintable() or not _URL.fullmatch(url):
            raise ParameterValueError(f"user_designated_url must be a URL such as s3://bucket/out.mp4, got {url!r}")
        protocol, path = url.split("://", 1)
        protocol = protocol.lower()
        if not known_protocol(protocol):
            raise ParameterValueError(f"user_designated_url has the unknown protocol {protocol!r}")
        where = _location(self.store)
        if self.allowed is None:
            if protocol not in ("file", where[0] if where else "file"):
                raise ParameterValueError(
                    f"user_designated_url may not use {protocol}://: this studio writes results to local paths "
                    f"and {where[0] if where else 'file'}:// URLs (the host allows others with output_urls=)")
        elif not any(url.startswith(prefix) for prefix in self.allowed):
            raise ParameterValueError(f"user_designated_url {url!r} is outside what this studio may write to: "
                                      f"{list(self.allowed)}")
        if not _installed(protocol):
            raise ParameterValueError(f"user_designated_url needs the package of the {protocol}:// filesystem, "
                                      "which is not installed here: install it, or give another URL")
        if url.endswith("/"):
            raise ParameterValueError("user_designated_url names a folder: give the file to write, e.g. out.mp4")
        if protocol == "file":
            return self._check_local(url, os.path.realpath(path), where)
        if where is not None and where[0] == protocol and _inside("/" + path.strip("/"), where[1]):
            raise ParameterValueError("user_designated_url points inside the studio's own store: give a place "
                                      "outside it")
        return url

    @staticmethod
    def _check_local(url: str, real: str, where: tuple[str, str] | None) -> str:
        if where is not None and where[0] == "file" and _inside(real, where[1]):
            raise ParameterValueError("user_designated_url points inside the studio's own store: give a place "
                                      "outside it")
        try:
            mode = os.stat(real).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise ParameterValueError("user_designated_url names a folder: give the file to write, e.g. out.mp4")
        if mode is not None and not stat.S_ISREG(mode):
            raise ParameterValueError("user_designated_url names a special file (a device, a pipe or a socket): "
                                      "give a regular file")
        if not os.path.isdir(os.path.dirname(real)):
            raise ParameterValueError(f"user_designated_url's folder {os.path.dirname(real)} does not exist: "
                                      "create it first")
        return url


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
