"""The error hierarchy: stable codes, input errors are ValueErrors, codes map back to classes."""

from __future__ import annotations

import pytest

from fusionkit import errors


def all_error_classes():
    return [getattr(errors, name) for name in errors.__all__ if isinstance(getattr(errors, name), type)]


def test_codes_are_unique_and_round_trip():
    classes = all_error_classes()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert errors.error_for_code(cls.code) is cls
    with pytest.raises(KeyError):
        errors.error_for_code("No.Such.Code")


def test_input_errors_are_value_errors_with_the_code_in_str():
    err = errors.NoFaceDetectedError("no face in the user image: use a photo with a visible face")
    assert isinstance(err, ValueError) and isinstance(err, errors.FusionKitError)
    assert str(err).startswith("[FailedOperation.NoFaceDetected] no face")
    assert not issubclass(errors.CoreError, ValueError)
