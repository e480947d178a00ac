"""One exception hierarchy for fusionkit, each error with a stable code.

The codes follow the cloud face-fusion service's (``FailedOperation.NoFaceDetected``,
``InvalidParameterValue.ParameterValueError``...), so code written against the service can branch on
``err.code`` the same way. Errors caused by the caller's input also subclass :class:`ValueError`.

Examples
--------
>>> from fusionkit.errors import FusionKitError
>>> try:
...     raise ParameterValueError("fuse_face_degree must be within 0-100, got 120")
... except FusionKitError as err:
...     print(err.code)
InvalidParameterValue.ParameterValueError
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ActivityIdNotFoundError",
    "CapacityExceededError",
    "ConsentRequiredError",
    "CoreError",
    "CoreNotBuiltError",
    "EncryptedObjectError",
    "FaceBlurredError",
    "FaceOccludedError",
    "FacePoseTooLargeError",
    "FaceRectParameterValueError",
    "FaceSizeTooSmallError",
    "FusionKitError",
    "ImageDecodeFailedError",
    "ImageResolutionExceedError",
    "ImageResolutionTooSmallError",
    "ImageScanCountExceedError",
    "ImageSizeExceedError",
    "InputError",
    "JobCancelledError",
    "JobExpiredError",
    "JobInterruptedError",
    "JobNotExistError",
    "KeyProviderError",
    "MasterKeyError",
    "MaterialIdNotFoundError",
    "MaterialPreprocessingError",
    "ModelContractError",
    "ModelFileError",
    "ModelHashMismatchError",
    "ModelRunFailedError",
    "ModelUnreadableError",
    "NoFaceDetectedError",
    "ParameterValueError",
    "PlainObjectError",
    "ProviderUnavailableError",
    "RendererFailedError",
    "RendererNotFoundError",
    "RendererOutputError",
    "ResultIdNotFoundError",
    "StorageError",
    "TemplateFaceIDNotExistError",
    "UnsupportedImageFormatError",
    "VideoDecodeFailedError",
    "VideoDurationExceedError",
    "VideoEncodeFailedError",
    "VideoFormatNotSupportError",
    "VideoFrameRateExceedError",
    "VideoResolutionExceedError",
    "VideoSizeExceedError",
    "WrongMasterKeyError",
    "error_for_code",
]


class FusionKitError(Exception):
    """Base of every error fusionkit raises.

    Parameters
    ----------
    message
        What went wrong and what to change.

    Attributes
    ----------
    code
        The stable, machine-readable code, e.g. ``"FailedOperation.NoFaceDetected"``.
    """

    code: ClassVar[str] = "FailedOperation.InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class InputError(FusionKitError, ValueError):
    """The caller's input cannot be used; the message says what to change."""

    code: ClassVar[str] = "InvalidParameterValue"


class ParameterValueError(InputError):
    """A parameter is out of range, of the wrong type or shape, or inconsistent with another one."""

    code: ClassVar[str] = "InvalidParameterValue.ParameterValueError"


class FaceRectParameterValueError(InputError):
    """``input_face_rect`` is malformed, too small or covers no face."""

    code: ClassVar[str] = "InvalidParameterValue.FaceRectParameterValueError"


class ImageDecodeFailedError(InputError):
    """The bytes are not a decodable image (truncated, corrupt or empty)."""

    code: ClassVar[str] = "FailedOperation.ImageDecodeFailed"


class UnsupportedImageFormatError(InputError):
    """The image format is outside the allow-list (JPEG, PNG, WebP)."""

    code: ClassVar[str] = "FailedOperation.ImageFormatNotSupport"


class ImageResolutionExceedError(InputError):
    """The image is wider, taller or has more pixels than the configured maximum."""

    code: ClassVar[str] = "FailedOperation.ImageResolutionExceed"


class ImageResolutionTooSmallError(InputError):
    """The image is smaller than the minimum side length."""

    code: ClassVar[str] = "FailedOperation.ImageResolutionTooSmall"


class ImageSizeExceedError(InputError):
    """The encoded image has more bytes than the configured maximum."""

    code: ClassVar[str] = "FailedOperation.ImageSizeExceed"


class ImageScanCountExceedError(InputError):
    """A progressive JPEG holds more scans than the configured maximum (``ImageLimits.max_jpeg_scans``, 100 by
    default): each scan passes over the whole image, so thousands of them take minutes to decode. Re-save the image
    (an ordinary progressive JPEG has about 10 scans)."""

    code: ClassVar[str] = "FailedOperation.ImageScanCountExceed"


class NoFaceDetectedError(InputError):
    """No face was found where one is required."""

    code: ClassVar[str] = "FailedOperation.NoFaceDetected"


class ReferenceFaceAmbiguousError(InputError):
    """A reference photo shows more than one face: which person it names is unclear."""

    code: ClassVar[str] = "FailedOperation.ReferenceFaceAmbiguous"


class FaceSizeTooSmallError(InputError):
    """The face is smaller than the minimum the models handle (34 x 34 pixels)."""

    code: ClassVar[str] = "FailedOperation.FaceSizeTooSmall"


class FacePoseTooLargeError(InputError):
    """A face is turned further from the camera than fusion handles (yaw beyond 50 degrees, the message names the
    angle): a frontal face painted on a profile would not look photographed."""

    code: ClassVar[str] = "FailedOperation.FacePoseTooLarge"


class FaceOccludedError(InputError):
    """Most of a face is covered (a hand, hair, an object): too little of it is left to fuse into or to carry a
    likeness."""

    code: ClassVar[str] = "FailedOperation.FaceOccluded"


class FaceBlurredError(InputError):
    """The user face is too blurred to carry a likeness (out of focus, moving, or enlarged from very few pixels)."""

    code: ClassVar[str] = "FailedOperation.FaceBlurred"


class TemplateFaceIDNotExistError(InputError):
    """The template face id or index names no face of the template."""

    code: ClassVar[str] = "FailedOperation.TemplateFaceIDNotExist"


class VideoDecodeFailedError(InputError):
    """The data is not a readable video: not a container FFmpeg knows, truncated, corrupt, or without a video
    stream."""

    code: ClassVar[str] = "FailedOperation.VideoDecodeFailed"


class VideoFormatNotSupportError(InputError):
    """The container or codec is outside the allow-list (MP4/MOV with H.264 or H.265 video, AAC or no audio), or
    the container refers to other files or URLs (HLS playlists, concat lists)."""

    code: ClassVar[str] = "FailedOperation.VideoFormatNotSupport"


class VideoDurationExceedError(InputError):
    """The video is longer than the configured maximum duration."""

    code: ClassVar[str] = "FailedOperation.VideoDurationExceed"


class VideoResolutionExceedError(InputError):
    """The video's frames are wider or taller than the configured maximum."""

    code: ClassVar[str] = "FailedOperation.VideoResolutionExceed"


class VideoFrameRateExceedError(InputError):
    """The video's frame rate is over the configured maximum."""

    code: ClassVar[str] = "FailedOperation.VideoFrameRateExceed"


class VideoSizeExceedError(InputError):
    """The video file has more bytes than the configured maximum."""

    code: ClassVar[str] = "FailedOperation.VideoSizeExceed"


class VideoEncodeFailedError(FusionKitError):
    """Writing the fused video failed (the encoder or the output refused it); nothing was left at the target."""

    code: ClassVar[str] = "FailedOperation.VideoEncodeFailed"


class CoreError(FusionKitError):
    """The C core refused a call that passed Python's validation (a bug in fusionkit, please report it).

    Attributes
    ----------
    status
        The negative status the C routine returned.
    """

    code: ClassVar[str] = "FailedOperation.CoreError"

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class CoreNotBuiltError(FusionKitError, ImportError):
    """The compiled C core is missing or was built for another version of the package."""

    code: ClassVar[str] = "FailedOperation.CoreNotBuilt"


class ModelFileError(FusionKitError):
    """A shipped model file is missing or does not match its recorded sha256 hash."""

    code: ClassVar[str] = "FailedOperation.ModelFileError"


class ProviderUnavailableError(ParameterValueError):
    """An onnxruntime execution provider was asked for that this installation lacks; the message lists those it
    has."""

    code: ClassVar[str] = "InvalidParameterValue.ExecutionProviderUnavailable"


class ModelHashMismatchError(InputError):
    """A user's model file does not have the sha256 its :class:`~fusionkit.ModelSpec` pins; it was not loaded."""

    code: ClassVar[str] = "FailedOperation.ModelHashMismatch"


class ModelUnreadableError(InputError):
    """A user's model file is missing, unreadable or not a model onnxruntime can load."""

    code: ClassVar[str] = "FailedOperation.ModelUnreadable"


class ModelContractError(InputError):
    """A user's model has inputs or outputs (names, ranks, sizes) other than its adapter's contract."""

    code: ClassVar[str] = "FailedOperation.ModelContractMismatch"


class ModelRunFailedError(FusionKitError):
    """A model could not start or run on the chosen execution providers (out of device memory, a provider that
    failed): not a fault of the model file; the message names the model and the providers."""

    code: ClassVar[str] = "FailedOperation.ModelRunFailed"


class RendererNotFoundError(ParameterValueError):
    """No face renderer (or enhancer) is registered under that name; the message lists those that are."""

    code: ClassVar[str] = "InvalidParameterValue.RendererNotFound"


class RendererFailedError(FusionKitError):
    """A face renderer or enhancer plug-in raised; the template was left untouched."""

    code: ClassVar[str] = "FailedOperation.RendererFailed"


class RendererOutputError(RendererFailedError):
    """A face renderer or enhancer plug-in returned arrays of the wrong shape or type; the template was left
    untouched."""

    code: ClassVar[str] = "FailedOperation.RendererOutputInvalid"


class ActivityIdNotFoundError(InputError):
    """The activity id is malformed or names no activity of this studio."""

    code: ClassVar[str] = "InvalidParameterValue.ActivityIdNotFound"


class MaterialIdNotFoundError(InputError):
    """The material id is malformed or names no material (of this activity, when one is given)."""

    code: ClassVar[str] = "InvalidParameterValue.MaterialIdNotFound"


class ResultIdNotFoundError(InputError):
    """The fused-result id is malformed, names no stored result, or the result has expired."""

    code: ClassVar[str] = "InvalidParameterValue.ResultIdNotFound"


class CapacityExceededError(FusionKitError):
    """The studio's capacity (stored material bytes or material count) would be exceeded by this upload."""

    code: ClassVar[str] = "LimitExceeded.StudioCapacity"


class ConsentRequiredError(InputError):
    """The studio's consent policy refused the request (no consent, or one the policy does not accept)."""

    code: ClassVar[str] = "FailedOperation.ConsentRequired"


class JobNotExistError(InputError):
    """The video job id is malformed, names no job of this studio, or the job's result has expired."""

    code: ClassVar[str] = "FailedOperation.JobNotExist"


class MaterialPreprocessingError(InputError):
    """The video material is still being preprocessed (uploaded with ``wait=False``): wait until its status is
    ``"ready"`` (``studio.materials.get``) and submit again."""

    code: ClassVar[str] = "FailedOperation.MaterialPreprocessing"


class JobCancelledError(FusionKitError):
    """The video job was cancelled (``studio.videos.cancel``) before it completed; nothing was written."""

    code: ClassVar[str] = "FailedOperation.JobCancelled"


class JobInterruptedError(FusionKitError):
    """The video job was interrupted twice (its process stopped while it ran); it is not retried again."""

    code: ClassVar[str] = "FailedOperation.JobInterrupted"


class JobExpiredError(FusionKitError):
    """The video job waited longer than the retention policy's video-result period without running (no worker took
    it); its user images were deleted with it. Submit it again to a studio that runs jobs."""

    code: ClassVar[str] = "FailedOperation.JobExpired"


class StorageError(FusionKitError):
    """The studio's storage failed or holds a document this version cannot read."""

    code: ClassVar[str] = "FailedOperation.StorageError"


class MasterKeyError(FusionKitError):
    """The master key that wraps the store's data keys is missing, unreadable or unsafe (a key file readable by
    group or others, of the wrong length, an unset or malformed environment variable); the message names the file
    or variable and what to fix. Nothing is read or written without it."""

    code: ClassVar[str] = "FailedOperation.MasterKeyUnavailable"


class WrongMasterKeyError(MasterKeyError):
    """The store's data keys were wrapped under another master key than the one given (the message names both key
    ids): open the store with the master key it was encrypted under."""

    code: ClassVar[str] = "FailedOperation.MasterKeyMismatch"


class KeyProviderError(FusionKitError):
    """The key provider (the host's KMS callable, a key file or variable) failed to wrap or unwrap a data key; the
    message carries its error. Nothing was written, and nothing is read without the key."""

    code: ClassVar[str] = "FailedOperation.KeyProviderFailed"


class EncryptedObjectError(StorageError):
    """An encrypted object fails its integrity check: tampered with, truncated, moved or copied from another key,
    or written by a newer format. It is never returned as plaintext; restore it from a backup or delete it."""

    code: ClassVar[str] = "FailedOperation.EncryptedObjectInvalid"


class PlainObjectError(StorageError):
    """An unencrypted object was found in a store that requires encryption: encrypt the store first (the
    migration, ``fusionkit.storage.crypto.encrypt_store``), or open it with ``encryption=None``."""

    code: ClassVar[str] = "FailedOperation.PlainObjectRefused"


def _all_subclasses(cls: type[FusionKitError]) -> list[type[FusionKitError]]:
    out: list[type[FusionKitError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_for_code(code: str) -> type[FusionKitError]:
    """Return the exception class that carries ``code`` (for callers re-raising stored error codes).

    Raises
    ------
    KeyError
        If no fusionkit error has that code.
    """
    classes: list[type[FusionKitError]] = [FusionKitError, *_all_subclasses(FusionKitError)]
    for cls in classes:
        if cls.code == code:
            return cls
    raise KeyError(code)
