"""The AI-generated label and the logo: legible, in place, and nothing outside their rectangles changes."""

from __future__ import annotations

import numpy as np
import pytest

from fusionkit.domain.options import LabelOptions, LogoParam
from fusionkit.errors import ParameterValueError
from fusionkit.fusion.label import draw_label, draw_logo, label_rect


@pytest.mark.parametrize(("w", "h"), [(640, 480), (1920, 1080), (300, 200), (64, 64)])
@pytest.mark.parametrize("background", [0, 128, 255])
def test_label_is_legible_and_stays_in_its_corner(w, h, background):
    img = np.full((h, w, 3), background, np.uint8)
    label = LabelOptions()
    draw_label(img, label)
    x0, y0, x1, y1 = label_rect(w, h, label)
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and x1 > 0.9 * w and y1 > 0.9 * h  # bottom-right
    outside = img.copy()
    outside[y0:y1, x0:x1] = background
    assert (outside == background).all(), "the label drew outside its rectangle"
    plate = img[y0:y1, x0:x1].astype(int)
    text = plate.max(axis=2) >= 250
    rows = np.flatnonzero(text.any(axis=1))
    assert rows.size and rows[-1] - rows[0] + 1 >= 0.02 * h  # text height at least 2% of the picture
    dark = np.median(plate[~text].max(axis=-1)) / 255
    # WCAG contrast ratio between white text and the plate (sRGB relative luminance)
    lum = ((dark + 0.055) / 1.055) ** 2.4 if dark > 0.04045 else dark / 12.92
    assert 1.05 / (lum + 0.05) >= 4.5


def test_label_options_are_validated():
    with pytest.raises(ParameterValueError, match="height_fraction"):
        LabelOptions(height_fraction=0.01)
    with pytest.raises(ParameterValueError, match="printable ASCII"):
        LabelOptions(text="")
    with pytest.raises(ParameterValueError, match="printable ASCII"):
        LabelOptions(text="KI-generiert \u2713")


def test_logo_rect_negative_coordinates_count_from_the_far_edges():
    logo = LogoParam(image=np.zeros((10, 20, 3), np.uint8), rect=(-10, -5, 40, 20))
    assert logo.placed(200, 100) == (150, 75, 190, 95)
    assert LogoParam(image=logo.image, rect=(3, 4, 40, 20)).placed(200, 100) == (3, 4, 43, 24)
    with pytest.raises(ParameterValueError, match="does not fit"):
        LogoParam(image=logo.image, rect=(190, 0, 40, 20)).placed(200, 100)
    with pytest.raises(ParameterValueError, match="positive"):
        LogoParam(image=logo.image, rect=(0, 0, 0, 20))
    with pytest.raises(ParameterValueError, match="whole pixels"):
        LogoParam(image=logo.image, rect=(0.5, 0, 10, 20))
    with pytest.raises(ParameterValueError, match="RGB or RGBA"):
        LogoParam(image=np.zeros((10, 20), np.uint8), rect=(0, 0, 10, 10))


def test_logo_is_fitted_centred_and_alpha_blended():
    img = np.full((100, 200, 3), 50, np.uint8)
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :10, 3] = 255  # left half opaque red, right half transparent
    draw_logo(img, LogoParam(image=rgba, rect=(-10, -10, 40, 40)))
    # the 2:1 logo fits as 40x20, centred vertically in the 40x40 rectangle at (150, 50)
    assert (img[60:80, 150:168] == [255, 0, 0]).all()
    assert (img[60:80, 172:190] == 50).all()
    assert (img[50:59, 150:190] == 50).all() and (img[:50] == 50).all() and (img[:, :150] == 50).all()
