"""Storage: blob stores with atomic writes over local disk or fsspec, and the studio's key layout.

fsspec is imported here and nowhere else in fusionkit (lazily, when a non-local store is opened). This package
never imports :mod:`fusionkit.fusion` or :mod:`fusionkit.vision`.
"""

from fusionkit.storage.backends import (
    BlobStore,
    KeyNotFound,
    LocalStore,
    check_key,
    local_path,
    open_store,
)
from fusionkit.storage.objects import FsspecStore

__all__ = ["BlobStore", "FsspecStore", "KeyNotFound", "LocalStore", "check_key", "local_path", "open_store"]
