"""scripts/evaluate_confirm_rounds.py on constructed embeddings whose answers are known: each enrolled person's
second photo is near the first (named at round 0), their third is near the second only, so it is named once the
second is confirmed and kept as a sample -- and never with learning off; strangers stay unnamed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerec.backbones import embedding_id

from test_choose_thresholds import load_script

STEP = 0.284  # radians: cosine distance 0.04 between neighbours (named at any gallery size here), 0.157 two apart


@pytest.fixture(scope="module")
def script():
    return load_script("evaluate_confirm_rounds")


def people_drifting(people: int, strangers: int) -> dict[Path, np.ndarray]:
    """`people` people with three photos each, drifting by STEP along their own direction; one photo each of
    `strangers` others, on axes of their own."""
    vectors = {}
    eye = np.eye(256, dtype=np.float32)
    for i in range(people):
        name = f"p{i:02d}"
        for j in range(3):
            v = np.cos(j * STEP) * eye[2 * i] + np.sin(j * STEP) * eye[2 * i + 1]
            vectors[Path("images") / name / f"{name}_{j + 1:04d}.jpg"] = v.astype(np.float32)
    for i in range(strangers):
        vectors[Path("images") / f"s{i:02d}" / f"s{i:02d}_0001.jpg"] = eye[2 * people + i]
    return vectors


def test_a_confirmed_face_names_the_photos_only_it_is_near(script):
    vectors = people_drifting(8, 20)
    gallery, album, enrolled = script.split(vectors, seed=0)
    assert len(enrolled) == 4 and len(gallery) == 4 and all(p.name.endswith("_0001.jpg") for p in gallery)
    assert len(album) == 4 * 2 + 4 * 3 + 20  # the others' photos and the strangers' are the album's strangers
    key = embedding_id("dlib")
    learning = script.run(vectors, 0, 2, 1, key, learn=True)
    decisions_only = script.run(vectors, 0, 2, 1, key, learn=False)
    assert [r["named_right"] for r in learning] == [0.5, 1.0, 1.0]
    assert [r["unnamed_at_round_0_named_right"] for r in learning] == [0.0, 1.0, 1.0]
    assert [r["confirmed"] for r in learning] == [0, 4, 8] and [r["samples"] for r in learning] == [4, 8, 12]
    assert [r["named_right"] for r in decisions_only] == [0.5, 0.5, 0.5]
    assert [r["samples"] for r in decisions_only] == [4, 4, 4]
    assert all(r["strangers_named"] == 0.0 for r in learning + decisions_only)
    assert "| 1 | 4 | 0 | 8 |" in script.markdown(learning, decisions_only)
