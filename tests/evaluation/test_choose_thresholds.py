"""scripts/choose_thresholds.py's open set by gallery size, on constructed embeddings whose answers are known:
the galleries are drawn as described, the per-photo rates follow from the distances, cells that a split cannot
build are reported, and the impostor-tail fit gives back its own quantile."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str):
    sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script("choose_thresholds")


def people_on_axes(photos_each: dict[str, int], spread: float = 0.1, seed: int = 0) -> dict[Path, np.ndarray]:
    """Each person's photos near their own axis of a 256-d space: same person at cosine distance < 0.02, two
    people at about 1 (so any threshold between names everyone right and no stranger)."""
    rng = np.random.default_rng(seed)
    vectors = {}
    for axis, (name, n) in enumerate(photos_each.items()):
        for i in range(n):
            v = np.eye(256, dtype=np.float32)[axis] + spread * rng.normal(size=256).astype(np.float32) / 16
            vectors[Path("images") / name / f"{name}_{i + 1:04d}.jpg"] = v / np.linalg.norm(v)
    return vectors


def test_a_drawn_gallery_has_k_photos_each_and_keeps_strangers_apart(script):
    persons = np.array(["a"] * 3 + ["b"] * 2 + ["c"] * 1 + [f"s{i}" for i in range(120)])
    gallery, labels, probes, probe_labels, strangers = script.draw_gallery(persons, 2, 1, np.random.default_rng(0))
    assert len(gallery) == 2 and sorted(set(persons[gallery])) == ["a", "b"]  # people with photos to name first
    assert {persons[g]: l for g, l in zip(gallery, labels)} == {persons[p]: l for p, l in zip(probes, probe_labels)}
    assert len(probes) == 3 and not set(probes) & set(gallery)
    assert set(persons[strangers]).isdisjoint({"a", "b"}) and len(strangers) == len(persons) - 5
    assert script.draw_gallery(persons, 3, 2, np.random.default_rng(0)) is None  # only a and b have 2 photos


def test_open_set_by_gallery_size_reports_rates_and_the_cells_it_cannot_build(script):
    photos = {f"p{i}": 4 for i in range(12)} | {f"s{i}": 1 for i in range(120)}
    vectors = people_on_axes(photos)
    args = SimpleNamespace(gallery_sizes=[5, 20], photos_each=[1, 3], draws=50, seed=0)
    report = script.open_set_by_gallery_size({"half": vectors}, "dlib:dlibbox2+flip", args)
    built = {(c["people"], c["k"]): c for c in report["cells"]}
    assert set(built) == {(5, 1), (5, 3), (20, 1)}  # 132 people have 1+ photo, only 12 have 3
    assert [(n["people"], n["k"], n["why"]) for n in report["not_built"]] == [(20, 3, "12 people have 3+ photos")]
    five = built[(5, 1)]
    assert five["at_default"]["threshold"] == 0.0758 and five["faces"] == 5 and five["draws"] == 10
    assert five["at_default"]["named_right"] == 1.0 and five["at_default"]["strangers_named"] == 0.0
    assert five["genuine_probes"] == 10 * 5 * 3 and five["stranger_photos"] == 10 * (12 * 4 + 120 - 5 * 4)
    assert built[(20, 1)]["people_with_photos_to_name"] == 12  # 8 people with one photo fill the gallery
    assert built[(20, 1)]["at_default"]["threshold"] == 0.066 and built[(5, 3)]["at_default"]["threshold"] == 0.0679
    curve = five["curve"]["points"]
    assert [p["threshold"] for p in curve] == list(script.CURVE_THRESHOLDS)
    at_rate = five["curve"]["at_stranger_rate"]["0.01"]
    assert at_rate["named_right"] == 1.0 and at_rate["strangers_named"] <= 0.01 + 1e-9


def test_rates_at_a_threshold_follow_from_the_distances(script):
    cell = {"_genuine": np.array([0.01, 0.03, 0.05, 0.2]), "_right": np.array([True, False, True, True]),
            "_strangers": np.array([0.02, 0.5, 0.6, 0.7])}
    assert script.cell_at(cell, 0.04) == {"threshold": 0.04, "named_right": 0.25, "named_wrong": 0.25,
                                          "strangers_named": 0.25}
    assert script.cell_at(cell, 0.01)["strangers_named"] == 0.0


def test_the_impostor_tail_fit_gives_back_its_quantile(script):
    from facerec.thresholds import distance_at_far

    impostor = np.random.default_rng(0).normal(0.16, 0.035, size=200_000)
    tail = script.fit_impostor_tail(impostor)
    assert tail["u"] == pytest.approx(np.quantile(impostor, 0.01), abs=1e-4)
    assert distance_at_far(tail, 1e-3) == pytest.approx(np.quantile(impostor, 1e-3), abs=0.002)
