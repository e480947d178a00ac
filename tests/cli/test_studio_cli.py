"""``fusionkit --studio URL ...``: activities, materials, fusion into a material, logs, sweep and erasure on a
studio folder (each command is a new process, so the studio must be on disk), and the errors of a wrong studio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2

from fusionkit.errors import (
    ActivityIdNotFoundError,
    MaterialIdNotFoundError,
    NoFaceDetectedError,
    ParameterValueError,
    ResultIdNotFoundError,
)

from .conftest import assert_error, run_cli

USAGE = ParameterValueError.code


def _json(studio: Path, *args: str | Path) -> Any:
    proc = run_cli("--studio", studio, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_studio_round_trip(tmp_path: Path, samples: dict[str, Path]) -> None:
    studio = tmp_path / "studio"
    activity = _json(studio, "activity", "create", "spring campaign", "--face-degree", "40")
    aid = activity["id"]
    assert activity["name"] == "spring campaign" and activity["fuse_face_degree"] == 40
    assert _json(studio, "activity", "rename", aid, "summer")["name"] == "summer"
    assert [a["id"] for a in _json(studio, "activity", "list")] == [aid]

    uploaded = _json(studio, "material", "upload", aid, samples["two_people.jpg"], samples["obama.jpg"])
    assert [len(m["faces"]) for m in uploaded] == [2, 1]
    mid = uploaded[0]["id"]
    page = _json(studio, "material", "list", aid, "--limit", "1")
    assert page["total"] == 2 and len(page["materials"]) == 1
    assert _json(studio, "material", "get", mid)["faces"][1]["id"] == f"{mid}_1"

    out = tmp_path / "fused.png"
    result = _json(studio, "fuse", "--material", mid, samples["biden.jpg"], samples["astronaut.png"], "-o", out)
    assert result["parameters"]["template_faces"] == [0, 1]
    assert result["parameters"]["fuse_face_degree"] == 40  # the activity's default
    assert result["url"].startswith("file://") and cv2.imread(str(out)).shape[:2] == (661, 1126)

    fetched = tmp_path / "fetched.png"
    assert _json(studio, "result", "get", result["id"], "-o", fetched)["id"] == result["id"]
    assert fetched.read_bytes() == out.read_bytes()
    line = assert_error(run_cli("--studio", studio, "result", "get", result["id"], "-o", tmp_path / "f.jpg"), 2, USAGE)
    assert "is a PNG picture" in line and not (tmp_path / "f.jpg").exists()

    # Human-readable output is one line per item.
    proc = run_cli("--studio", studio, "logs", "--interface", "FuseFace")
    assert proc.returncode == 0 and proc.stdout.count("FuseFace") == 1 and result["id"] in proc.stdout
    assert _json(studio, "sweep")["results"] == 0
    erased = _json(studio, "erase", "--result", result["id"])
    assert erased["counts"]["results"] == 1
    assert _json(studio, "material", "delete", mid)["counts"]["materials"] == 1
    assert _json(studio, "activity", "delete", aid)["counts"]["activities"] == 1
    assert _json(studio, "activity", "list") == []
    line = assert_error(run_cli("--studio", studio, "activity", "get", aid), 1, ActivityIdNotFoundError.code)
    assert line.startswith("fusionkit activity get: [")


def test_memory_studio_in_one_command(samples: dict[str, Path]) -> None:
    proc = run_cli("activity", "create", "x", "--studio", "memory://cli-test", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "x"


def test_studio_errors(tmp_path: Path, samples: dict[str, Path], blank_png: Path) -> None:
    studio = tmp_path / "studio"
    aid = _json(studio, "activity", "create", "a")["id"]
    some_file = tmp_path / "file.txt"
    some_file.write_text("x")
    cases: list[tuple[list[str | Path], int, str, str]] = [
        (["--studio", "nosuch://x", "activity", "list"], 2, USAGE, "cannot be opened"),
        (["--studio", some_file, "activity", "list"], 2, USAGE, "is a file"),
        (["--studio", tmp_path / "typo", "activity", "list"], 2, USAGE, "no studio there"),
        (["activity", "list"], 2, USAGE, "--studio URL"),
        (["--studio", studio, "material", "upload", aid, tmp_path / "nope.jpg"], 2, USAGE, "does not exist"),
        (["--studio", studio, "material", "upload", "ac_0000000000nothere", samples["obama.jpg"]], 1,
         ActivityIdNotFoundError.code, ""),
        (["--studio", studio, "material", "get", "../etc"], 1, MaterialIdNotFoundError.code, ""),
        (["--studio", studio, "fuse", samples["biden.jpg"]], 2, USAGE, "--material"),
        (["fuse", "--material", "mt_x", samples["obama.jpg"], samples["biden.jpg"], "-o", tmp_path / "o.jpg"], 2,
         USAGE, "--studio"),
        (["--studio", studio, "erase"], 2, USAGE, "--material ID"),
        (["--studio", studio, "logs", "--since", "yesterday"], 2, USAGE, "ISO 8601"),
        (["--studio", studio, "material", "list", aid, "--limit", "500"], 2, USAGE, "1-100"),
        (["--studio", studio, "--storage-option", "anon=true", "activity", "list"], 2, USAGE, "not used by local"),
        (["--studio", studio, "result", "get", "rs_0000000000nothere"], 1, ResultIdNotFoundError.code, ""),
        (["--studio", studio, "material", "upload", aid, samples["obama.jpg"], blank_png], 1, NoFaceDetectedError.code,
         "blank.png: no face was found in the material"),
    ]
    for args, rc, code, needle in cases:
        line = assert_error(run_cli(*args), rc, code)
        assert needle in line, (args, line)
    assert not (tmp_path / "typo").exists() and not (tmp_path / "o.jpg").exists()


def test_sweep_every_keeps_sweeping_until_interrupted(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    studio = tmp_path / "studio"
    _json(studio, "activity", "create", "kept clean")
    env = {k: v for k, v in os.environ.items() if k != "FUSIONKIT_STUDIO"}
    proc = subprocess.Popen([sys.executable, "-m", "fusionkit.cli", "--studio", str(studio), "sweep", "--every",
                             "1s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # two rounds, a second apart
    proc.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl-C's SIGINT ends it the same way)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert all(line.startswith("swept: results 0") for line in lines), lines
    bad = run_cli("--studio", studio, "sweep", "--every", "0.1s")
    assert bad.returncode == 2 and "1 s to 24 h" in bad.stderr


def test_encrypt_migrates_a_plain_studio_in_place(tmp_path: Path, samples: dict[str, Path]) -> None:
    import fusionkit
    from fusionkit.storage.crypto import LocalKeyFile

    studio = tmp_path / "studio"
    plain = fusionkit.open(studio, encryption=None, video_workers=0, sweep_every=None)
    activity = plain.activities.create("from before")
    material = plain.materials.upload(activity.id, samples["obama.jpg"])
    key = tmp_path / "campaign.key"
    assert _json(studio, "encrypt", "--key-file", key)["encrypted"] >= 3
    assert _json(studio, "encrypt", "--key-file", key)["encrypted"] == 0  # done already
    encrypted = fusionkit.open(studio, encryption=LocalKeyFile(key), video_workers=0, sweep_every=None)
    assert encrypted.materials.get(material.id) == material
    assert b"from before" not in (studio / "activities" / f"{activity.id}.json").read_bytes()
    wrong = run_cli("--studio", studio, "encrypt", "--key-file", tmp_path / "other.key")
    assert wrong.returncode == 1 and "FailedOperation.MasterKeyMismatch" in wrong.stderr


def test_the_cli_takes_a_consent_policy_and_an_age_threshold(tmp_path: Path, samples: dict[str, Path]) -> None:
    studio = tmp_path / "studio"
    aid = _json(studio, "activity", "create", "consented")["id"]
    mid = _json(studio, "material", "upload", aid, samples["obama.jpg"])[0]["id"]
    young = run_cli("--studio", studio, "--consent-min-age", "18", "fuse", "--material", mid, samples["biden.jpg"],
                    "--consent", "age_attested=16")
    assert young.returncode == 1 and "FailedOperation.ConsentRequired" in young.stderr
    done = _json(studio, "--consent-min-age", "18", "fuse", "--material", mid, samples["biden.jpg"], "--consent",
                 "age_attested=30")
    assert done["id"].startswith("rs_")
    (policy := tmp_path / "house_policy.py").write_text(
        "def always_no(request):\n    return False\nalways_no.name = 'house'\nalways_no.version = '7'\n")
    refused = run_cli("--studio", studio, "--consent-policy", "house_policy:always_no", "fuse", "--material", mid,
                      samples["biden.jpg"], cwd=tmp_path)
    assert refused.returncode == 1 and "ConsentRequired" in refused.stderr, refused.stderr
    bad = run_cli("--studio", studio, "--consent-policy", "no_such_module:x", "fuse", "--material", mid,
                  samples["biden.jpg"], cwd=tmp_path)
    assert bad.returncode == 2 and "cannot be loaded" in bad.stderr
    lines = [line for line in _json(studio, "logs", "--interface", "FuseFace") if line.get("consent")]
    assert [line["consent"] for line in lines] == ["AgeAttestation@1-min18:refused", "AgeAttestation@1-min18:allowed",
                                                    "house@7:refused"]
    assert policy.exists()


def test_the_cli_sets_capacity_and_retention(tmp_path: Path, samples: dict[str, Path]) -> None:
    studio = tmp_path / "studio"
    aid = _json(studio, "activity", "create", "limited")["id"]
    mid = _json(studio, "--max-materials", "1", "material", "upload", aid, samples["obama.jpg"])[0]["id"]
    full = run_cli("--studio", studio, "--max-materials", "1", "material", "upload", aid, samples["obama.jpg"])
    assert full.returncode == 1 and "LimitExceeded.StudioCapacity" in full.stderr
    rid = _json(studio, "fuse", "--material", mid, samples["biden.jpg"])["id"]
    assert _json(studio, "--keep-image-results", "7d", "sweep")["results"] == 0
    import time

    time.sleep(1.1)  # real time: each command is a new process on the system clock
    swept = _json(studio, "--keep-image-results", "1s", "sweep")  # by the policy given: already expired
    assert swept["results"] == 1
    gone = run_cli("--studio", studio, "result", "get", rid)
    assert gone.returncode == 1 and "ResultIdNotFound" in gone.stderr
    long = run_cli("--studio", studio, "--keep-logs", "30d", "sweep")
    assert long.returncode == 2 and "allow_longer" in long.stderr
