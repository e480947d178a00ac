"""What the commands share: exit statuses, the usage error, checks on paths, options and merges, the studio.

Each check runs after parsing and before any work, so a wrong argument is exit status 2 with nothing done. The
heavy modules (the fusion, the imaging, the studio) are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fusionkit.errors import FusionKitError, ParameterValueError, ProviderUnavailableError, RendererNotFoundError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "IMAGE_EXTENSIONS",
    "STUDIO_ENV",
    "USAGE_CODE",
    "UsageError",
    "check_plugins",
    "fuse_options",
    "guard",
    "image_format",
    "material_degrees",
    "merges",
    "need_input",
    "need_output",
    "open_studio",
    "plugin_options",
    "runtime",
    "runtime_options",
    "write_atomic",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
USAGE_CODE = ParameterValueError.code
#: The picture formats a command writes, by the output file's extension.
IMAGE_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}
STUDIO_ENV = "FUSIONKIT_STUDIO"


class UsageError(Exception):
    """A command-line argument that cannot be used (exit status 2, nothing done)."""


def guard(make: Callable[[], Any]) -> Any:
    """Run a validation step: a fusionkit input error there is a usage error (exit 2, nothing done)."""
    try:
        return make()
    except FusionKitError as err:
        raise UsageError(err.message) from None


# -- checks on paths -------------------------------------------------------------------------------------------------

def need_input(path: str, what: str, video: bool = False) -> str:
    """``path``, once it is a readable JPEG, PNG or WebP picture (or, with ``video``, an MP4)."""
    if not os.path.exists(path):
        raise UsageError(f"{what} {path!r} does not exist: give the path of a JPEG, PNG or WebP picture")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a folder: give the path of a picture file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as err:
        raise UsageError(f"{what} {path!r} cannot be read ({err.strerror}): check its permissions") from None
    if video and head[4:8] == b"ftyp":
        return path
    if not (head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (head[:4] == b"RIFF" and head[8:] == b"WEBP")):
        raise UsageError(f"{what} {path!r} is not a JPEG, PNG or WebP picture: give one of those")
    return path


def need_output(path: str, option: str) -> str:
    """``path``, once it names a .jpg, .jpeg or .png file in a writable folder (``option`` names it in errors)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise UsageError(f"{option} {path!r} must end in .jpg, .jpeg or .png (the extension picks the format)")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a folder: give a file name such as {os.path.join(path, 'out' + ext)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} does not exist: create it or write elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: the folder {folder!r} is not writable: write elsewhere")
    return path


def image_format(path: str) -> str:
    """The format (``jpeg`` or ``png``) that an output path checked by :func:`need_output` asks for."""
    return IMAGE_EXTENSIONS[os.path.splitext(path)[1].lower()]


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (imported here: the command starts without imaging)."""
    from fusionkit.imaging.files import write_bytes_atomic

    write_bytes_atomic(path, data)


# -- what to fuse, and how -------------------------------------------------------------------------------------------

def fuse_options(args: argparse.Namespace, out: str | None, degrees: tuple[float, float] | None = None) -> Any:
    """The FuseOptions the arguments ask for (constructing them validates them, before any work).

    ``degrees`` are the (face, profile) degrees used where the command line gives none (default: the library's).
    """
    from fusionkit.domain.options import DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE, FuseOptions, LabelOptions

    face, profile = degrees if degrees is not None else (DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE)
    kwargs: dict[str, Any] = {
        "fuse_face_degree": args.face_degree if args.face_degree is not None else face,
        "fuse_profile_degree": args.profile_degree if args.profile_degree is not None else profile,
        "label": LabelOptions(enabled=not args.no_label),
        "metadata": args.meta or (),
    }
    if args.blend is not None:
        kwargs["blend_mode"] = args.blend
    if args.expression is not None:
        kwargs["expression"] = args.expression
    if args.quality is not None:
        kwargs["jpeg_quality"] = args.quality
    if out is not None:
        kwargs["output_format"] = image_format(out)
    return FuseOptions(**kwargs, **plugin_options(args))


# -- the renderer, the enhancer and their models ---------------------------------------------------------------------

def plugin_options(args: argparse.Namespace) -> dict[str, Any]:
    """The FuseOptions fields --renderer, --model, --enhancer, --enhancer-model and --enhancer-strength ask for:
    ``renderer`` and ``enhancer`` as PluginSpecs, or nothing (the library's mesh renderer and no enhancer)."""
    from fusionkit.domain.models import ModelSpec, PluginSpec

    if args.model and args.renderer in (None, "mesh"):
        raise UsageError("--model gives a learned renderer's model files: name the renderer with --renderer NAME "
                         "(e.g. onnx-swapper); the mesh renderer takes none")
    if (args.enhancer_model or args.enhancer_strength is not None) and args.enhancer is None:
        raise UsageError("--enhancer-model and --enhancer-strength are for an enhancer: name it with --enhancer "
                         "NAME (e.g. onnx-enhancer)")

    def spec(name: str, option: str, models: list[tuple[str, dict[str, Any]]] | None,
             settings: dict[str, Any]) -> Any:
        specs = []
        for role, fields in models or ():
            try:
                specs.append((role, ModelSpec(**fields)))
            except ParameterValueError as err:
                raise UsageError(f"{option} {role}=...: {err.message}") from None
        return guard(lambda: PluginSpec(name=name, models=specs, settings=settings))

    kwargs: dict[str, Any] = {}
    if args.renderer is not None:
        kwargs["renderer"] = spec(args.renderer, "--model", args.model, {})
    if args.enhancer is not None:
        settings = {} if args.enhancer_strength is None else {"strength": args.enhancer_strength}
        kwargs["enhancer"] = spec(args.enhancer, "--enhancer-model", args.enhancer_model, settings)
    return kwargs


def check_plugins(options: Any) -> None:
    """Before any work: the renderer and enhancer of ``options`` exist and take the models and settings given
    (else a usage error; an unknown name stays a RendererNotFoundError), and their models load: each file has the
    sha256 it is pinned to and fits its contract, so that a wrong file fails now, not when a picture or a queued
    video job first runs it. Run it inside :func:`runtime`: the models load on the providers asked for.

    Raises
    ------
    RendererNotFoundError, ModelHashMismatchError, ModelUnreadableError, ModelContractError,
    ProviderUnavailableError
    """
    from fusionkit.fusion.renderers import enhancer_for, prepare, renderer_for

    try:
        renderer, enhancer = renderer_for(options.renderer), enhancer_for(options.enhancer)
    except RendererNotFoundError:
        raise
    except ParameterValueError as err:
        raise UsageError(err.message) from None
    prepare(renderer, enhancer)


def runtime_options(args: argparse.Namespace) -> Any:
    """The :class:`~fusionkit.vision.RuntimeOptions` of --provider (repeatable), checked; None without it.

    Raises
    ------
    ProviderUnavailableError
        A provider this onnxruntime lacks (the message lists those it has).
    """
    providers = getattr(args, "provider", None)
    if not providers:
        return None
    from fusionkit.vision import RuntimeOptions
    from fusionkit.vision._runtime import check_providers

    options = RuntimeOptions(providers=tuple(providers))
    check_providers(options)
    return options


@contextlib.contextmanager
def runtime(args: argparse.Namespace) -> Iterator[None]:
    """Run the block with the onnxruntime providers of --provider (repeatable), checked first; without it, the
    library's defaults. Every model made inside, fusionkit's and the user's, runs with them."""
    options = runtime_options(args)
    if options is None:
        yield
        return
    from fusionkit.vision import using_runtime

    with using_runtime(options):
        yield


def material_degrees(material: Any, activity: Any) -> tuple[float, float]:
    """The (face, profile) degrees of a fusion into ``material``: its own, else its activity's, else the
    library's."""
    from fusionkit.domain.options import DEFAULT_FACE_DEGREE, DEFAULT_PROFILE_DEGREE

    def first(*values: float | None) -> float:
        return next(v for v in values if v is not None)

    return (first(material.fuse_face_degree, activity.fuse_face_degree, DEFAULT_FACE_DEGREE),
            first(material.fuse_profile_degree, activity.fuse_profile_degree, DEFAULT_PROFILE_DEGREE))


def merges(users: Sequence[str]) -> list[Any]:
    """One Merge per USER picture: one goes into the template's largest face, several into its faces 0, 1, ..."""
    from fusionkit.fusion.api import MAX_MERGES, Merge

    if len(users) > MAX_MERGES:
        raise UsageError(f"give 1 to {MAX_MERGES} USER pictures, got {len(users)}")
    if len(users) == 1:
        return [Merge(image=users[0])]  # into the template's largest face
    return [Merge(image=u, template_face=i) for i, u in enumerate(users)]


# -- the studio ------------------------------------------------------------------------------------------------------

def consent_policy(args: argparse.Namespace) -> Any:
    """The consent policy named by --consent-policy MODULE:NAME and/or --consent-min-age YEARS (both: both must
    allow), or None."""
    policies: list[Any] = []
    named = getattr(args, "consent_policy", None)
    if named:
        module, _, name = named.partition(":")
        if not module or not name:
            raise UsageError(f"--consent-policy must be MODULE:NAME, got {named!r}")
        import importlib

        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise UsageError(f"--consent-policy {named!r} cannot be loaded ({err}): give an importable module and "
                             "a name in it") from None
        policies.append(found() if isinstance(found, type) else found)
    age = getattr(args, "consent_min_age", None)
    if age is not None:
        from fusionkit.studio import AgeAttestation

        policies.append(AgeAttestation(min_age=age))
    if not policies:
        return None
    if len(policies) == 1:
        return policies[0]
    from fusionkit.studio import AllOf

    return AllOf(tuple(policies))


def _capacity(args: argparse.Namespace) -> Any:
    from fusionkit.studio import Capacity

    return Capacity(max_bytes=getattr(args, "max_bytes", None), max_materials=getattr(args, "max_materials", None))


def _retention(args: argparse.Namespace) -> Any:
    from fusionkit.domain import RetentionPolicy

    periods = {name: getattr(args, f"keep_{name}", None) for name in ("logs", "image_results", "video_results")}
    return RetentionPolicy(**{k: v for k, v in periods.items() if v is not None})


def carried_consent(args: argparse.Namespace) -> dict[str, Any] | None:
    """The consent this call carries (--consent KEY=VALUE, repeatable), or None."""
    given = getattr(args, "consent", None)
    return dict(given) if given else None


def open_studio(args: argparse.Namespace, create: bool = False, video_workers: int = 0) -> Any:
    """The studio named by ``--studio`` (or $FUSIONKIT_STUDIO); a local one must exist unless ``create``."""
    url = args.studio
    if url is None:
        raise UsageError(f"this command works on a studio: give --studio URL (or set {STUDIO_ENV})")
    from fusionkit.storage import local_path

    path = local_path(url)
    if path is not None:
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"--studio {url!r} is a file, not a studio folder: give a folder")
        if not create and not os.path.isdir(path):
            raise UsageError(f"--studio {url!r}: there is no studio there (check the path; 'activity create' "
                             "starts a new one)")
    import fusionkit

    options = dict(args.storage_option or ())
    policy = consent_policy(args)
    try:
        # One command, one call: the command sweeps itself when asked (`sweep`), no background thread.
        return fusionkit.open(url, storage_options=options or None, video_workers=video_workers, sweep_every=None,
                              consent=policy, capacity=_capacity(args), retention=_retention(args),
                              runtime=runtime_options(args))
    except ProviderUnavailableError:
        raise  # its own code: what this machine's onnxruntime has, not a mistake in the command line
    except FusionKitError as err:
        raise UsageError(err.message) from None
    except (ValueError, ImportError) as err:
        raise UsageError(f"--studio {url!r} cannot be opened ({err}): give a folder, file://PATH, memory://NAME or "
                         "the URL of an installed fsspec filesystem") from None
