"""The identify threshold that follows the gallery's size (facerec.thresholds.identify_threshold): a stranger meets
every enrolled face, so a larger gallery needs a stricter threshold per comparison to keep the share of strangers
named per photo at STRANGER_RATE. The figures pinned here are the ones measured on LFW View 1 (thresholds.py)."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.backbones import REGISTRY
from facerec.thresholds import (
    STRANGER_RATE,
    comparison_far,
    distance_at_far,
    identify_rule,
    identify_threshold,
    threshold_for,
)

DLIB = "dlib:dlibbox2+flip"


def test_the_per_comparison_rate_keeps_the_per_photo_rate_at_the_target():
    for n in (1, 2, 20, 400, 10_000):
        far = comparison_far(n)
        assert 1 - (1 - far) ** n == pytest.approx(STRANGER_RATE, rel=1e-9)
    assert comparison_far(1) == pytest.approx(STRANGER_RATE) and comparison_far(0) == comparison_far(1)
    assert comparison_far(100) == pytest.approx(1.005e-4, rel=1e-3)  # about rate / n
    with pytest.raises(ValueError):
        comparison_far(10, stranger_rate=0.0)


def test_the_fitted_tail_gives_back_the_measured_devtrain_quantiles():
    """DevTrain's different-person distances: 0.0707 at FAR 1e-3, 0.0564 at 1e-4, 0.0463 at 1e-5 (5.9 M pairs)."""
    tail = REGISTRY["dlib"].impostor_tail
    assert distance_at_far(tail, tail["p_u"]) == pytest.approx(tail["u"])
    for far, measured in ((1e-3, 0.0707), (1e-4, 0.0564), (1e-5, 0.0463)):
        assert distance_at_far(tail, far) == pytest.approx(measured, abs=0.0005)
    flat = {"u": 0.1, "p_u": 0.01, "sigma": 0.01, "xi": 0.0}  # the exponential limit of the same formula
    assert distance_at_far(flat, 0.001) == pytest.approx(0.1 + 0.01 * np.log(0.1))


def test_identify_threshold_falls_as_the_gallery_grows():
    sizes = [1, 2, 3, 5, 10, 20, 50, 100, 400, 1_000, 10_000, 1_000_000]
    values = [identify_threshold(DLIB, n) for n in sizes]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert values[1] > values[4] > values[7] > values[-1] > 0


def test_identify_threshold_at_a_few_gallery_sizes():
    verify = threshold_for(DLIB, "verify")
    assert identify_threshold(DLIB, 1) == identify_threshold(DLIB, 0) == verify  # never looser than verify
    assert identify_threshold(DLIB, 20) == 0.066
    assert identify_threshold(DLIB, 100) == 0.0566  # FAR 1e-4 per comparison: the former fixed value, 0.0564
    assert identify_threshold(DLIB, 400) == 0.0499
    assert identify_threshold(DLIB, 1_000) == 0.0461
    assert identify_threshold("dlib-keras", 20) == identify_threshold(DLIB, 20)  # the same network
    assert identify_threshold(DLIB, 20, stranger_rate=0.001) < identify_threshold(DLIB, 20)


def test_a_backbone_without_a_fitted_tail_keeps_its_fixed_threshold():
    assert REGISTRY["resnet50"].impostor_tail is None
    assert {identify_threshold("resnet50", n) for n in (1, 20, 5_000)} == {threshold_for("resnet50", "identify")}
    assert identify_threshold("nosuchnet", 20) == threshold_for("nosuchnet", "identify")
    assert identify_rule("resnet50") == "fixed" and identify_rule(DLIB).startswith("gallery size")
