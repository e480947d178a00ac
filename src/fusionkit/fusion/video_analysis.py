"""Video analysis, the first pass of video fusion (what a studio stores at upload): the video's shots, its people
followed shot by shot and re-identified across shots, and the people matching reference photos.

:func:`track_video` decodes the video once, streamed: shots are found while decoding
(:mod:`fusionkit.imaging.shots`), faces are followed as tracklets (:mod:`fusionkit.vision.tracking`), tracklets are
joined into people by identity (:mod:`fusionkit.vision.identity`) and ordered by time on screen, and each
tracklet's points are smoothed forward and backward. :func:`fusionkit.fusion.video.fuse_video` replays the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from fusionkit.domain.faces import FaceMesh
from fusionkit.errors import (
    NoFaceDetectedError,
    ParameterValueError,
    ReferenceFaceAmbiguousError,
    VideoDecodeFailedError,
)
from fusionkit.fusion.api import find_faces
from fusionkit.imaging.decode import DEFAULT_LIMITS, ImageLimits, load_image
from fusionkit.imaging.planes import decoded_frames, frame_planes, yuv420p
from fusionkit.imaging.shots import ShotDetector
from fusionkit.imaging.video import DEFAULT_VIDEO_LIMITS, FrameGuard, VideoLimits, VideoSource, open_video
from fusionkit.vision.identity import IdentityModel, identity_model
from fusionkit.vision.tracking import FaceTracker, Tracklet, link_people, smooth_points

__all__ = ["MAX_PEOPLE", "MIN_FRAMES", "ReferenceFace", "VideoTracks", "reference_face", "track_video"]

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]

#: A person seen on fewer frames than this (over the whole video) is not kept: a face glimpsed for a moment, or
#: a false detection the mesh model let through.
MIN_FRAMES = 3
#: At most this many people are kept (the longest on screen): the stored tracks hold every frame of every person
#: kept, about 5.6 KB a person a frame, so a crowd in a minute of 60 fps video stays within about 320 MB.
MAX_PEOPLE = 16

def _starts(value: Any) -> NDArray[np.int32]:
    return np.asarray(value, np.int32).reshape(-1)


@attrs.frozen(kw_only=True)
class VideoTracks:
    """The people of a video, frame by frame: what preprocessing stores and what fusion replays.

    Attributes
    ----------
    points
        ``(frames, faces, 468, 3)`` float32 smoothed mesh points in frame pixels (NaN where a face is absent). A
        face is one person across the whole video (re-identified across shots), the person on screen longest first.
    present
        ``(frames, faces)`` bool: whether each face is on each frame.
    shots
        ``(shots,)`` int32: the first frame of each shot (0 first).
    """

    points: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    present: NDArray[np.bool_] = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    shots: NDArray[np.int32] = attrs.field(factory=lambda: np.zeros(1, np.int32), converter=_starts,
                                           eq=attrs.cmp_using(eq=np.array_equal))

    @property
    def frame_count(self) -> int:
        return int(self.points.shape[0])

    @property
    def face_count(self) -> int:
        return int(self.points.shape[1])

    def shot_of(self, frame: int) -> int:
        """The index of the shot ``frame`` lies in."""
        return int(np.searchsorted(self.shots, frame, side="right")) - 1

    def select(self, faces: Sequence[int]) -> VideoTracks:
        """These faces only, in this order."""
        order = list(faces)
        return VideoTracks(points=np.ascontiguousarray(self.points[:, order]),
                           present=np.ascontiguousarray(self.present[:, order]), shots=self.shots)


@attrs.frozen(kw_only=True)
class ReferenceFace:
    """A reference photo's face, matched against a video's people by identity.

    Attributes
    ----------
    points
        ``(468, 3)`` float32 mesh points in the photo.
    embedding
        The face's identity embedding (:func:`fusionkit.vision.identity.identity_model` when it was made).
    model
        Name of the identity model that made the embedding (embeddings of different models do not compare).
    """

    points: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    embedding: F32 = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    model: str = "appearance"

    @classmethod
    def from_image(cls, image: U8, mesh: FaceMesh, identity: IdentityModel | None = None) -> ReferenceFace:
        """The reference of ``mesh``'s face in ``image`` (RGB)."""
        model = identity if identity is not None else identity_model()
        return cls(points=np.asarray(mesh.points, np.float32), embedding=model.embed(image, mesh.points),
                   model=model.name)


def reference_face(photo: Any, *, limits: ImageLimits = DEFAULT_LIMITS, index: int = 0,
                   identity: IdentityModel | None = None) -> ReferenceFace:
    """The :class:`ReferenceFace` of a photo of one person (array, bytes or path).

    Raises
    ------
    NoFaceDetectedError
        The photo shows no face.
    ReferenceFaceAmbiguousError
        It shows more than one (crop it to the person meant).
    """
    image = load_image(photo, limits=limits)
    meshes = find_faces(image)
    if not meshes:
        raise NoFaceDetectedError(f"no face was found in reference photo {index}: use a clear photo of the person")
    if len(meshes) > 1:
        raise ReferenceFaceAmbiguousError(
            f"reference photo {index} shows {len(meshes)} faces: crop it to the one person it names")
    return ReferenceFace.from_image(image, meshes[0], identity)


def _assign(distances: NDArray[np.float64], limit: float) -> list[int]:
    """Person index per reference from a (references, people) distance matrix: pairs taken closest first, each
    person at most once, none farther than ``limit``.

    Raises
    ------
    NoFaceDetectedError
        A reference is left without a person (the message gives its best distance).
    """
    pairs = sorted((float(distances[r, f]), r, f) for r in range(distances.shape[0])
                   for f in range(distances.shape[1]))
    chosen: dict[int, int] = {}
    for d, r, f in pairs:
        if d <= limit and r not in chosen and f not in chosen.values():
            chosen[r] = f
    for r in range(distances.shape[0]):
        if r not in chosen:
            best = float(distances[r].min()) if distances.shape[1] else math.inf
            raise NoFaceDetectedError(
                f"reference face {r} matches no person of the video (closest identity distance {best:.2f}, a match "
                f"needs at most {limit:.2f}): use a clear, frontal photo of someone who appears in the video")
    return [chosen[r] for r in range(distances.shape[0])]


def _dense(tracklets: Sequence[Tracklet], people: Sequence[Sequence[int]], frames: int, fps: float,
           smoothing: bool) -> tuple[F32, NDArray[np.bool_]]:
    points = np.full((frames, len(people), 468, 3), np.nan, np.float32)
    present = np.zeros((frames, len(people)), bool)
    for p, group in enumerate(people):
        for i in group:
            t = tracklets[i]
            smoothed = smooth_points(t.points, t.still, fps) if smoothing else list(t.points)
            for k, pts in enumerate(smoothed):
                if pts is not None:
                    points[t.start + k, p] = pts
                    present[t.start + k, p] = True
    return points, present


def track_video(source: VideoSource, *, limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
                smoothing: bool = True, progress: Callable[[float], None] | None = None,
                references: Sequence[ReferenceFace] | None = None,
                identity: IdentityModel | None = None, max_people: int = MAX_PEOPLE) -> VideoTracks:
    """Find the video's shots and people and follow them through it (what preprocessing stores).

    Every shot is searched for faces at its first frame and every few frames after (a person entering is found
    within three frames); faces are followed by the landmark model and never across a cut; the same person in
    different shots becomes one face, re-identified by ``identity`` (default :func:`identity_model`: dlib's face
    recognition with the ``identity`` extra; without it, faces are joined only within a shot). Faces are ordered by
    time on screen, longest first; people seen on fewer than :data:`MIN_FRAMES` frames are dropped, and only the
    ``max_people`` longest on screen are kept (:data:`MAX_PEOPLE`; references are matched among all of them).

    With ``references`` (one :class:`ReferenceFace` per role, as the cloud API's template infos give them) the
    result holds only the people matching them, in their order, each matched by identity (pairs closest first,
    each person at most once, within the model's same-person distance).

    ``progress``, when given, is called after each frame with the fraction done (0-1); an exception it raises
    stops the tracking and propagates.

    Raises
    ------
    NoFaceDetectedError
        No face anywhere in the video, or a reference matches no one (its closest distance is given).
    VideoDecodeFailedError, VideoFormatNotSupportError, Video*ExceedError
        See :func:`fusionkit.imaging.probe_video`.
    """
    model = identity if identity is not None else identity_model()
    refs = list(references) if references is not None else []
    for r, ref in enumerate(refs):
        if ref.model != model.name:
            raise ParameterValueError(f"reference face {r} was made by the {ref.model!r} identity model, the video "
                                      f"is matched by {model.name!r}: make the references again")
    frames = 0
    with open_video(source, limits=limits) as (container, info):
        container.streams.video[0].thread_type = "AUTO"
        w, h = info.width, info.height
        shots = ShotDetector(info.fps)
        tracker = FaceTracker(info.fps, h, model)
        starts: list[int] = []
        guard = FrameGuard(limits, fps=info.fps, header_s=info.duration_s)
        for index, frame in enumerate(decoded_frames(container, None, None, guard=guard)):
            planes = frame_planes(yuv420p(frame, w, h))
            change = shots.push(planes[0])
            if index == 0 or change is not None:
                starts.append(change.frame if change is not None else 0)
            tracker.step(index, planes, shot_from=change.frame if change is not None else None)
            frames = index + 1
            if progress is not None:
                progress(min(1.0, frames / max(1, info.frame_count)))
    if frames == 0:
        raise VideoDecodeFailedError("the video has no decodable frame")
    people = [g for g in link_people(tracker.tracklets, model)
              if sum(tracker.tracklets[i].frames_present for i in g) >= MIN_FRAMES]
    if not people:
        raise NoFaceDetectedError("no face was found in the video: use a video with a clear, frontal face")
    if refs:
        distances = np.array([[_person_distance(ref.embedding, tracker.tracklets, g) for g in people]
                              for ref in refs])
        people = [people[f] for f in _assign(distances, model.same_person)]
    people = people[:max(1, max_people)]
    points, present = _dense(tracker.tracklets, people, frames, info.fps, smoothing)
    return VideoTracks(points=points, present=present, shots=np.array(starts, np.int32))


def _person_distance(embedding: F32, tracklets: Sequence[Tracklet], group: Sequence[int]) -> float:
    """Mean identity distance of a reference embedding to a person's sampled frames."""
    d = [float(np.linalg.norm(embedding - e)) for i in group for e in tracklets[i].embeddings]
    return float(np.mean(d)) if d else math.inf
