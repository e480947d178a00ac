"""User photos (and templates) decoded and analysed once for a batch, or for the merges of one call:
:class:`PhotoMemo` and the blocks that lend it to :func:`fusionkit.fuse` (:func:`remembering_photos`,
:func:`task_photos`, :func:`sharing_photos`).

A campaign fuses one user into many templates; every request used to decode the same photo again and find the
same face in it (about a third of a fusion from a file). Within a batch (``fusionkit.fuse_many``), a user photo
given as bytes or a file is known by its content, and a request whose photo was seen earlier takes the earlier
decoding, face and checks: the same arrays, so the same result. The merges of one call (one user into several
faces) share a photo the same way, and a batch's requests that give one template as bytes or a file (many users
into one template) share its decoding and faces. The memo is the batch's (or the call's) and goes with it; a user
photo is biometric data, and nothing of it outlives the batch or is kept past the memo's limits.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np

__all__ = ["PhotoMemo", "current_photos", "remembering_photos", "sharing_photos", "task_photos"]

T = TypeVar("T")


def _arrays(value: Any) -> Iterator[np.ndarray[Any, Any]]:
    """The arrays ``value`` holds: itself, an object's ``image``, or those of a tuple's items."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _arrays(item)
    else:
        image = getattr(value, "image", None)
        if isinstance(image, np.ndarray):
            yield image


class _Shelf:
    """One kind of entry of a :class:`PhotoMemo`: at most ``limit`` entries and ``max_bytes`` of pixels, least
    recently used first out (the memo's lock held for every call)."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.bytes = 0

    def found(self, key: Hashable) -> tuple[Any, int] | None:
        """The entry under ``key``, now the most recently used."""
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def keep(self, key: Hashable, value: Any, size: int) -> None:
        self.entries[key] = (value, size)
        self.bytes += size
        while len(self.entries) > self.limit or self.bytes > self.max_bytes:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.bytes -= dropped

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class PhotoMemo:
    """What a batch has made of its user photos and templates, by key: at most ``limit`` entries and ``max_bytes``
    of pixels of user photos, and ``templates`` entries (two a template: its decoding and its faces) and
    ``template_bytes`` of templates, on shelves of their own (a new entry pushes out the least recently used of its
    kind: a batch of one user into many template files keeps the user's photo however many templates pass).
    Thread-safe: the batch's threads share it, and a thread that asks for what another is making waits for it rather
    than making it too.

    Entries are what :func:`fusionkit.fusion.api.user_face` makes of a photo in its steps (the half-size decoding
    and its face, the checked face), and what :func:`fusionkit.fuse` makes of a template (its decoding and faces),
    each kept under the picture's content and the step, so that what a request gets from the memo is exactly what
    it would have made. The arrays of a kept value are made read-only: the batch's requests share them. A step that
    fails is not kept: the next request (and one that waited for it) tries it again and raises its own error.
    """

    def __init__(self, limit: int = 6, max_bytes: int = 160 << 20, *, templates: int = 4,
                 template_bytes: int = 96 << 20) -> None:
        self._lock = threading.Lock()
        self._shelves = {"user": _Shelf(limit, max_bytes), "template": _Shelf(templates, template_bytes)}
        self._making: dict[Hashable, threading.Event] = {}

    def __len__(self) -> int:
        with self._lock:
            return sum(len(shelf.entries) for shelf in self._shelves.values())

    @property
    def pixel_bytes(self) -> int:
        """The bytes of pixels held."""
        with self._lock:
            return sum(shelf.bytes for shelf in self._shelves.values())

    def get_or_make(self, key: Hashable, make: Callable[[], T], *, kind: str = "user") -> T:
        """The value kept under ``key``, else ``make()``, kept (unless larger than its shelf allows); ``kind`` is
        ``"user"`` (a user photo's step) or ``"template"``."""
        shelf = self._shelves[kind]
        with self._lock:
            found = shelf.found(key)
            if found is not None:
                return found[0]  # type: ignore[no-any-return]
            making = self._making.get(key)
            if making is None:
                self._making[key] = done = threading.Event()
        if making is not None:  # another thread is making it: its value, or (when it failed) our own try
            making.wait()
            with self._lock:
                found = shelf.found(key)
            return found[0] if found is not None else self.get_or_make(key, make, kind=kind)
        try:
            value = make()
            self._keep(shelf, key, value)
            return value
        finally:
            with self._lock:
                del self._making[key]
            done.set()

    def clear(self) -> None:
        """Let go of every entry (the batch has ended: a failed item's traceback may still refer to the memo)."""
        with self._lock:
            for shelf in self._shelves.values():
                shelf.clear()

    def _keep(self, shelf: _Shelf, key: Hashable, value: Any) -> None:
        arrays = list(_arrays(value))
        size = sum(int(a.nbytes) for a in arrays)
        if size > shelf.max_bytes:
            return
        for array in arrays:
            array.setflags(write=False)  # shared from now on: read, never written
        with self._lock:
            shelf.keep(key, value, size)


_PHOTOS: ContextVar[PhotoMemo | None] = ContextVar("fusionkit_photo_memo", default=None)


def current_photos() -> PhotoMemo | None:
    """The memo lent to this block by :func:`remembering_photos`, if any."""
    return _PHOTOS.get()


@contextlib.contextmanager
def task_photos(memo: PhotoMemo | None) -> Iterator[None]:
    """Within the block (one task of a batch), user photos and templates are remembered in ``memo``, the batch's; or,
    when ``None`` (a cluster task, which a memo cannot travel to), in one of the task's own, emptied when it ends."""
    own = memo is None
    lent = PhotoMemo() if memo is None else memo
    try:
        with remembering_photos(lent):
            yield
    finally:
        if own:
            lent.clear()


@contextlib.contextmanager
def sharing_photos(merges: int) -> Iterator[None]:
    """Within the block, merges of one call that give the same photo share what is made of it: a memo of the
    call's own when it has several merges and no batch lends one, emptied when the block ends (also on an error,
    whose traceback would hold it)."""
    if merges < 2 or current_photos() is not None:
        yield
        return
    with task_photos(None):
        yield


@contextlib.contextmanager
def remembering_photos(memo: PhotoMemo | None) -> Iterator[None]:
    """Within the block, :func:`fusionkit.fuse` keeps what it makes of its user photos (and of templates given as
    bytes or a path) in ``memo`` and takes what is there (``None``: nothing is kept)."""
    token = _PHOTOS.set(memo)
    try:
        yield
    finally:
        _PHOTOS.reset(token)
