"""The decoded template images of recently fused materials, kept in memory so that fusing many users into one
material decodes its source once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.studio import Material
from fusionkit.errors import MaterialIdNotFoundError
from fusionkit.imaging.decode import ImageLimits, decode_image
from fusionkit.storage import keys
from fusionkit.storage.backends import BlobStore, KeyNotFound

__all__ = ["TemplateCache"]


class _Site(Protocol):
    """Where sources are read from and the caps they are decoded under (the studio's, read at each call)."""

    @property
    def store(self) -> BlobStore: ...

    @property
    def limits(self) -> ImageLimits: ...


class TemplateCache:
    """The last ``size`` materials' decoded sources (read-only arrays), keyed by material id and source hash.

    Parameters
    ----------
    site
        The studio: its ``store`` (where the sources are) and ``limits`` (the caps they are decoded under).
    size
        How many decoded images to keep (8 1080p RGB images are about 50 MB).
    """

    def __init__(self, site: _Site, size: int = 8) -> None:
        self._site = site
        self._size = size
        self._images: OrderedDict[tuple[str, str], NDArray[np.uint8]] = OrderedDict()
        self._lock = threading.Lock()

    def image(self, material: Material) -> NDArray[np.uint8]:
        """The material's decoded source.

        Raises
        ------
        MaterialIdNotFoundError
            Its source is gone from the store (the material was deleted meanwhile).
        """
        key = (material.id, material.source_sha256)
        with self._lock:
            cached = self._images.get(key)
            if cached is not None:
                self._images.move_to_end(key)
                return cached
        try:
            data = self._site.store.read(keys.material_source(material.id, material.source_format))
        except KeyNotFound:
            raise MaterialIdNotFoundError(f"material {material.id} has no stored source (deleted meanwhile)") from None
        image = decode_image(data, limits=self._site.limits)
        image.setflags(write=False)
        with self._lock:
            self._images[key] = image
            while len(self._images) > self._size:
                self._images.popitem(last=False)
        return image

    def forget(self, material_id: str) -> None:
        """Drop the material's image (it is being deleted)."""
        with self._lock:
            for key in [k for k in self._images if k[0] == material_id]:
                del self._images[key]
