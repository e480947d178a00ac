"""``detect_faces`` and ``analyze``: the functional entry points on arrays, bytes or paths."""

from __future__ import annotations

from fusionkit.domain.faces import MIN_FACE_SIZE, Face, FaceMesh
from fusionkit.errors import FaceSizeTooSmallError
from fusionkit.imaging.decode import DEFAULT_LIMITS, ChannelOrder, ImageLimits, ImageSource, load_image
from fusionkit.vision._runtime import RuntimeOptions, current_runtime
from fusionkit.vision.detector import DetectorModel, FaceDetector
from fusionkit.vision.landmarker import FaceLandmarker

__all__ = ["analyze", "detect_faces"]

def detect_faces(
    image: ImageSource,
    *,
    model: DetectorModel = "auto",
    min_score: float | None = None,
    min_presence: float | None = 0.5,
    limits: ImageLimits = DEFAULT_LIMITS,
    array_order: ChannelOrder = "rgb",
    options: RuntimeOptions | None = None,
) -> list[Face]:
    """Find the faces in an image, largest first.

    Parameters
    ----------
    image
        An RGB uint8 array ``(H, W, 3)``, encoded JPEG/PNG/WebP bytes, or a path to such a file.
    model
        ``"auto"`` (default: every face from 34 px in group photos, about 1.5 ms on a portrait), ``"thorough"``
        (small faces behind a large one too), ``"short"`` or ``"full"`` (one model, once); see
        :class:`fusionkit.vision.FaceDetector`.
    min_score
        Confidence threshold (0-1); ``None`` for the model's default.
    min_presence
        Each detection is checked by the face-mesh model, whose face-presence score (0-1) must reach this: a
        pattern on a background, an emblem or a texture can score like a face for the detector, not for the mesh
        model (about 4 ms per face). ``None`` keeps every detection unchecked.
    limits
        Decoding caps for bytes and paths.
    array_order
        ``"rgb"`` (default) or ``"bgr"``: the channel order of an array ``image`` (OpenCV's ``imread`` gives
        BGR). Encoded images are always decoded to RGB.
    options
        onnxruntime providers and threads (default: those of an enclosing ``using_runtime`` block, else
        onnxruntime's own choice).

    Returns
    -------
    list of Face
        Every face found, including faces under 34 px, which carry ``too_small=True``.

    Examples
    --------
    >>> import fusionkit
    >>> faces = fusionkit.detect_faces("tests/data/two_people.jpg")     # doctest: +SKIP
    >>> len(faces), faces[0].box                                        # doctest: +SKIP
    """
    rgb = load_image(image, limits=limits, array_order=array_order)
    options = options if options is not None else current_runtime()
    faces = FaceDetector(model=model, min_score=min_score, options=options).detect(rgb)
    if min_presence is None or not faces:
        return faces
    landmarker = FaceLandmarker(options=options)
    return [f for f in faces if landmarker.mesh(rgb, f).presence >= min_presence]


def analyze(
    image: ImageSource,
    *,
    model: DetectorModel = "auto",
    min_score: float | None = None,
    min_presence: float = 0.5,
    refine: bool = False,
    limits: ImageLimits = DEFAULT_LIMITS,
    array_order: ChannelOrder = "rgb",
    options: RuntimeOptions | None = None,
) -> list[FaceMesh]:
    """Detect the faces and compute a 468-point mesh for each, largest first.

    Faces under :data:`fusionkit.domain.MIN_FACE_SIZE` (34 px) get no mesh; meshes whose face-presence score is
    under ``min_presence`` are dropped (the landmark model disagrees with the detector). ``refine=True`` runs
    the landmark model twice per face (see :class:`fusionkit.vision.FaceLandmarker`).

    Returns
    -------
    list of FaceMesh
        Empty when no face was found.

    Raises
    ------
    FaceSizeTooSmallError
        Faces were found but every one is under 34 px (``FailedOperation.FaceSizeTooSmall``).
    ImageDecodeFailedError, ImageResolutionExceedError, ImageSizeExceedError, UnsupportedImageFormatError
        Bad input, before any decoding (see :func:`fusionkit.imaging.decode_image`).
    """
    rgb = load_image(image, limits=limits, array_order=array_order)
    options = options if options is not None else current_runtime()
    faces = FaceDetector(model=model, min_score=min_score, options=options).detect(rgb)
    usable = [f for f in faces if not f.too_small]
    if faces and not usable:
        raise FaceSizeTooSmallError(
            f"found {len(faces)} face(s), the largest {faces[0].size:.0f} px; faces must be at least "
            f"{MIN_FACE_SIZE} px: use a larger or closer photo"
        )
    landmarker = FaceLandmarker(refine=refine, options=options)
    meshes = [landmarker.mesh(rgb, f) for f in usable]
    return [m for m in meshes if m.presence >= min_presence]
