"""``fusionkit fuse`` and ``fusionkit video submit`` with a learned renderer and enhancer: --renderer, --model,
--enhancer, --enhancer-model, --enhancer-strength and --provider, run on the tiny ONNX graphs of
``tests/renderers/tiny_models.py`` (no one's weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionkit.domain.models import ModelSpec
from fusionkit.errors import (
    ModelHashMismatchError,
    ParameterValueError,
    ProviderUnavailableError,
    RendererNotFoundError,
)
from tests.renderers import tiny_models
from tests.video.clips import make_clip

from .conftest import assert_error, run_cli

USAGE = ParameterValueError.code


def _flag(spec: ModelSpec, role: str, **change: str) -> str:
    """``ROLE=PATH,sha256=HEX,licence=TEXT``: the value of --model (or --enhancer-model) for ``spec``."""
    fields = {"sha256": spec.sha256, "licence": spec.licence, **change}
    return ",".join([f"{role}={spec.path}", *(f"{k}={v}" for k, v in fields.items())])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelSpec]:
    folder = tmp_path_factory.mktemp("models")
    return {"swapper": tiny_models.save(tiny_models.swapper(), folder / "swapper.onnx",
                                        licence="non-commercial, research only"),
            "recogniser": tiny_models.save(tiny_models.recogniser(), folder / "recogniser.onnx", licence="MIT"),
            "enhancer": tiny_models.save(tiny_models.enhancer(), folder / "enhancer.onnx", licence="BSD-3-Clause")}


@pytest.fixture
def swapper_flags(models: dict[str, ModelSpec]) -> list[str]:
    return ["--renderer", "onnx-swapper", "--model", _flag(models["swapper"], "swapper"),
            "--model", _flag(models["recogniser"], "recogniser")]


def test_fuse_with_the_swapper_records_the_licences(tmp_path: Path, samples: dict[str, Path],
                                                    swapper_flags: list[str]) -> None:
    out = tmp_path / "fused.png"
    proc = run_cli("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", out, *swapper_flags)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out}")
    assert "model swapper.onnx: licence non-commercial, research only" in proc.stdout.splitlines()
    assert "model recogniser.onnx: licence MIT" in proc.stdout.splitlines()
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert b"Model licence" in data and b"swapper.onnx: non-commercial, research only" in data


def test_fuse_with_an_enhancer_and_a_provider_json(tmp_path: Path, samples: dict[str, Path],
                                                   models: dict[str, ModelSpec], swapper_flags: list[str]) -> None:
    out = tmp_path / "fused.jpg"
    proc = run_cli("--json", "fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", out, *swapper_flags,
                   "--enhancer", "onnx-enhancer", "--enhancer-model", _flag(models["enhancer"], "enhancer"),
                   "--enhancer-strength", "0.5", "--provider", "CPUExecutionProvider")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["renderer"] == "onnx-swapper"
    assert sorted(map(tuple, doc["model_licences"])) == [
        ("enhancer.onnx", "BSD-3-Clause"), ("recogniser.onnx", "MIT"),
        ("swapper.onnx", "non-commercial, research only")]
    assert b"enhancer.onnx: BSD-3-Clause" in out.read_bytes()


def test_a_wrong_sha256_loads_nothing_and_writes_nothing(tmp_path: Path, samples: dict[str, Path],
                                                         models: dict[str, ModelSpec]) -> None:
    out = tmp_path / "fused.png"
    proc = run_cli("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", out, "--renderer", "onnx-swapper",
                   "--model", _flag(models["swapper"], "swapper", sha256="0" * 64),
                   "--model", _flag(models["recogniser"], "recogniser"))
    line = assert_error(proc, 1, ModelHashMismatchError.code)
    assert "swapper.onnx" in line and models["swapper"].sha256 in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("flags", "rc", "code", "needle"),
    [
        (["--renderer", "no-such-renderer"], 1, RendererNotFoundError.code, "available: ['mesh', 'onnx-swapper'"),
        (["--provider", "NoSuchExecutionProvider"], 1, ProviderUnavailableError.code, "CPUExecutionProvider"),
        (["--renderer", "onnx-swapper", "--model", "swapper=x.onnx"], 2, USAGE,
         "must be ROLE=PATH,sha256=HEX,licence=TEXT[,input_size=N] (no sha256 or licence)"),
        (["--renderer", "onnx-swapper", "--model", "swapper=x.onnx,sha256=abc,licence=MIT"], 2, USAGE,
         "64 hex digits"),
        (["--model", f"swapper=x.onnx,sha256={'a' * 64},licence=MIT"], 2, USAGE, "--renderer NAME"),
        (["--enhancer-strength", "0.5"], 2, USAGE, "--enhancer NAME"),
        (["--enhancer-strength", "2"], 2, USAGE, "within 0-1"),
        (["--renderer", "onnx-swapper"], 2, USAGE, "needs models 'swapper' and 'recogniser'"),
        (["--renderer", "onnx-swapper", "--model", f"swapper=x.onnx,sha256={'a' * 64},licence=MIT,input-size=128"],
         2, USAGE, "'input-size' is not one of"),  # a mistyped key never vanishes into the licence
    ],
    ids=["unknown renderer", "unknown provider", "model without hash", "model hash not hex", "model for mesh",
         "strength without enhancer", "strength over 1", "swapper without models", "mistyped model key"],
)
def test_renderer_errors(tmp_path: Path, samples: dict[str, Path], flags: list[str], rc: int, code: str,
                         needle: str) -> None:
    out = tmp_path / "fused.png"
    line = assert_error(run_cli("fuse", samples["obama.jpg"], samples["biden.jpg"], "-o", out, *flags), rc, code)
    assert needle in line
    assert not out.exists()


def test_video_job_with_the_swapper(tmp_path: Path, samples: dict[str, Path], models: dict[str, ModelSpec],
                                    swapper_flags: list[str]) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, fps=5, seconds=0.6, audio=False)
    studio = tmp_path / "studio"

    def ok(*args: str | Path) -> dict[str, object]:
        proc = run_cli("--studio", studio, "--json", *args)
        assert proc.returncode == 0, proc.stderr
        doc: dict[str, object] = json.loads(proc.stdout)
        return doc

    activity = ok("activity", "create", "video")["id"]
    (material,) = ok("material", "upload", str(activity), clip)  # type: ignore[misc]
    bad = run_cli("--studio", studio, "video", "submit", "--material", material["id"], samples["biden.jpg"],
                  "--renderer", "onnx-swapper", "--model", _flag(models["swapper"], "swapper", sha256="0" * 64),
                  "--model", _flag(models["recogniser"], "recogniser"))
    assert_error(bad, 1, ModelHashMismatchError.code)  # refused at submit: nothing queued
    job = ok("video", "submit", "--material", material["id"], samples["biden.jpg"], *swapper_flags, "--wait",
             "--timeout", "120", "--provider", "CPUExecutionProvider")
    assert job["status"] == "completed", job



def test_material_upload_takes_the_providers_too(tmp_path: Path, samples: dict[str, Path]) -> None:
    studio = tmp_path / "studio"
    made = run_cli("--studio", studio, "--json", "activity", "create", "spring")
    assert made.returncode == 0, made.stderr
    activity = json.loads(made.stdout)["id"]
    refused = run_cli("--studio", studio, "material", "upload", activity, samples["obama.jpg"],
                      "--provider", "NoSuchExecutionProvider")
    assert_error(refused, 1, ProviderUnavailableError.code)
