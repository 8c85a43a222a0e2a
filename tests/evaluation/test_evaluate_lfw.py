"""scripts/evaluate_lfw.py on a tiny LFW-layout set made from tests/data: the side-by-side report is complete,
photos without a face fail their pairs, and the numbers follow from the distances."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def tiny_lfw(tmp_path, core_images):
    """Two people with two photos each and a 'person' whose only photo has no face, in LFW's layout."""
    photos = {"Kit": ["kit_1.jpg", "kit_2.jpg"], "Rose": ["rose_1.jpg", "rose_2.jpg"], "Nobody": ["noface_017.jpg"]}
    for name, files in photos.items():
        (tmp_path / "images" / name).mkdir(parents=True)
        for i, f in enumerate(files, start=1):
            shutil.copy(core_images / f, tmp_path / "images" / name / f"{name}_{i:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("3\nKit 1 2\nRose 1 2\nNobody 1 1\nKit 1 Rose 1\nKit 2 Rose 2\nRose 1 Nobody 1\n")
    return tmp_path


def test_side_by_side_report_on_a_tiny_lfw(tiny_lfw, capsys):
    pytest.importorskip("dlib")
    script = load_script("evaluate_lfw")
    out = tiny_lfw / "report.json"
    assert script.main(["--lfw", str(tiny_lfw), "--pairs", "pairs.txt", "--tools", "facerec", "--out", str(out), "-q"]) == 0
    report = json.loads(out.read_text())
    (facerec,) = report["tools"]
    assert report["n_pairs"] == 6 and report["n_same"] == 3
    assert facerec["photos_without_face"] == 1 and facerec["failed_pairs"] == 2
    # every pair with faces is decided right; the same-person pair of the faceless photo is a failure
    assert facerec["accuracy_at_default"] == pytest.approx(5 / 6)
    assert facerec["seconds_per_photo"] > 0
    assert "acc @ default" in capsys.readouterr().out
