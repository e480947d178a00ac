"""Drawing found faces on a picture: each face's box, number and 468-point mesh (``fusionkit detect --draw``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import FaceMesh
from fusionkit.errors import ParameterValueError
from fusionkit.vision.topology import mesh_topology

__all__ = ["draw_faces"]

# RGB colours: the mesh's triangles, the contours of its regions (eyes, brows, lips, outline), the box and number.
_TRIANGLES = (80, 200, 80)
_CONTOURS = (40, 80, 255)
_BOX = (255, 160, 0)


def draw_faces(image: NDArray[np.uint8], meshes: Sequence[FaceMesh]) -> NDArray[np.uint8]:
    """A copy of ``image`` with each face's mesh triangles, region contours, box and number drawn on it.

    Parameters
    ----------
    image
        ``(height, width, 3)`` RGB uint8 array; it is not changed.
    meshes
        The faces to draw, as :func:`fusionkit.vision.analyze` returns them; face ``i`` is labelled ``i``.

    Returns
    -------
    numpy.ndarray
        The drawn copy, RGB uint8 of the same shape. Lines are about one pixel per 800 pixels of the longer side.

    Examples
    --------
    >>> from fusionkit.vision import analyze, draw_faces
    >>> drawn = draw_faces(image, analyze(image))    # doctest: +SKIP
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ParameterValueError("image must be an RGB uint8 array of shape (height, width, 3)")
    canvas: NDArray[np.uint8] = image.copy()  # C-contiguous, as OpenCV draws
    scale = max(1, round(max(image.shape[:2]) / 800))
    topo = mesh_topology()
    for i, mesh in enumerate(meshes):
        pts = np.round(mesh.points[:, :2]).astype(np.int32)
        # The topology's triangles also span points added around the mesh for warping; draw the mesh's own.
        triangles = topo.triangles[(topo.triangles < len(pts)).all(axis=1)]
        cv2.polylines(canvas, list(pts[triangles]), True, _TRIANGLES, 1, cv2.LINE_AA)
        for pairs in topo.connections.values():
            cv2.polylines(canvas, list(pts[pairs]), False, _CONTOURS, scale, cv2.LINE_AA)
        x0, y0, x1, y1 = (round(float(v)) for v in mesh.face.box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), _BOX, scale + 1)
        cv2.putText(canvas, str(i), (x0 + 4, max(y0 - 6, 14 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                    _BOX, scale + 1, cv2.LINE_AA)
    return canvas
