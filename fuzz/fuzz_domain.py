"""Fuzz target: parsing stored studio documents (``from_json`` of every ``fusionkit.domain`` document).

Run: ``python fuzz/fuzz_domain.py [libFuzzer flags] fuzz/corpus/domain``. The input is a stored document (JSON
text, any bytes); it is given to each document class's ``from_json`` in turn (Material, FusedResult, VideoJob,
LogRecord, Activity, RetentionPolicy, AuditRecord, ErasureReceipt), so a corpus of every kind serves them all.

Documented outcome: the value, or a FusionKitError (StorageError for a broken or foreign document,
ParameterValueError for a value its validators refuse). Anything else is a finding, and so is a value that does not
survive ``to_json`` and ``from_json`` again (a stored document the studio could read but never write back).
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["fusionkit"]):  # fusionkit only: NumPy, OpenCV stay fast
    import numpy as np

    from fusionkit.domain import (
        Activity,
        ErasureReceipt,
        FusedResult,
        LogRecord,
        Material,
        RetentionPolicy,
        VideoJob,
    )
    from fusionkit.domain.audit import AuditRecord
    from fusionkit.errors import FusionKitError

TARGET = "domain"
DOCUMENTS = (Material, FusedResult, VideoJob, LogRecord, Activity, RetentionPolicy, AuditRecord, ErasureReceipt)


def _round_trip(value: object) -> None:
    # Text, not value equality: values holding NaN never equal themselves.
    text = value.to_json()  # type: ignore[attr-defined]
    again = type(value).from_json(text).to_json()  # type: ignore[attr-defined]
    if again != text:
        raise AssertionError(f"{type(value).__name__} read back from its own to_json differs: {text[:200]}")


def _finite_faces(value: object) -> None:
    # Face refuses non-finite boxes and keypoints ("face coordinates must be finite"); a stored mesh must not
    # smuggle NaN or infinite points past that into fusion.
    if isinstance(value, Material):
        for face in value.faces:
            if not np.isfinite(face.mesh.points).all():
                raise AssertionError(f"Material face {face.id} was read with non-finite mesh points")


def TestOneInput(data: bytes) -> None:
    for cls in DOCUMENTS:
        try:
            value = cls.from_json(data)
        except FusionKitError:
            continue
        except Exception as exc:
            _harness.finding(TARGET, exc, data)
            continue
        try:
            _round_trip(value)
            _finite_faces(value)
        except Exception as exc:
            _harness.finding(TARGET, exc, data)


if __name__ == "__main__":
    _harness.run(TestOneInput, dictionary="domain.dict")
