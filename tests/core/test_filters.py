"""Guided filter and unsharp mask: the C core against its NumPy twins, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionkit.core import box_radii_for_sigma, guided_filter, unsharp_mask
from fusionkit.errors import ParameterValueError
from tests.core.conftest_blend import images, masks
from tests.core.twins import filter as twin

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw):  # type: ignore[no-untyped-def]
    img = draw(images(min_side=1, max_side=40))
    mask = draw(st.one_of(st.none(), masks(*img.shape[:2])))
    return img, mask, draw(st.floats(0.0, 1.0))


@SETTINGS
@given(cases(), st.integers(1, 12), st.floats(1e-4, 1.0))
def test_guided_matches_twin(case, radius, eps) -> None:  # type: ignore[no-untyped-def]
    img, mask, strength = case
    out = guided_filter(img, radius, eps, mask=mask, strength=strength)
    expect = twin.guided_filter(img, radius, eps, mask, strength)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1


@SETTINGS
@given(cases(), st.floats(0.0, 4.0), st.floats(0.1, 8.0))
def test_unsharp_matches_twin(case, amount, radius) -> None:  # type: ignore[no-untyped-def]
    img, mask, strength = case
    out = unsharp_mask(img, amount, radius, mask=mask, strength=strength)
    expect = twin.unsharp_mask(img, amount, box_radii_for_sigma(radius), mask, strength)
    assert np.abs(out.astype(int) - expect.astype(int)).max() <= 1


def test_guided_smooths_flat_texture_and_keeps_edges() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((60, 60), np.uint8)
    img[:, 30:] = 200
    noisy = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    out = guided_filter(noisy, 4, 0.01)
    assert out[:, 5:25].std() < noisy[:, 5:25].std() / 2
    assert int(out[30, 35]) - int(out[30, 25]) > 180


def test_zero_strength_or_empty_mask_is_identity_and_in_place_works() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    assert (guided_filter(img, 3, 0.05, strength=0.0) == img).all()
    assert (unsharp_mask(img, 2.0, 2.0, mask=np.zeros((30, 30), np.uint8)) == img).all()
    expect = unsharp_mask(img, 1.0, 1.5)
    unsharp_mask(img, 1.0, 1.5, out=img)
    assert (img == expect).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius": 0}, "radius"),
        ({"radius": 129}, "radius"),
        ({"radius": 2.5}, "radius"),
        ({"eps": 0.0}, "eps"),
        ({"eps": 1.5}, "eps"),
        ({"eps": float("inf")}, "eps"),
        ({"strength": 2.0}, "strength"),
        ({"mask": np.zeros((9, 8), np.uint8)}, "must match"),
        ({"image": np.zeros((8, 8, 3), np.float64)}, "dtype uint8"),
        ({"out": np.zeros((8, 8), np.uint8)}, "must match"),
    ],
)
def test_guided_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {
        "image": np.zeros((8, 8, 3), np.uint8),
        "radius": 2,
        "eps": 0.01,
        "mask": None,
        "strength": 1.0,
        "out": None,
    }
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=message):
        guided_filter(
            args["image"],
            args["radius"],
            args["eps"],
            mask=args["mask"],
            strength=args["strength"],
            out=args["out"],
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount": -1.0}, "amount"),
        ({"amount": 11.0}, "amount"),
        ({"radius": 0.0}, "radius"),
        ({"radius": "wide"}, "radius"),
        ({"strength": -0.5}, "strength"),
        ({"mask": np.zeros((8, 8, 3), np.uint8)}, "channel"),
    ],
)
def test_unsharp_bad_input(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    args = {
        "image": np.zeros((8, 8, 3), np.uint8),
        "amount": 1.0,
        "radius": 1.0,
        "mask": None,
        "strength": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(ParameterValueError, match=message):
        unsharp_mask(
            args["image"], args["amount"], args["radius"], mask=args["mask"], strength=args["strength"]
        )
