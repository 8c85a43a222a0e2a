"""The review page's helpers in facerec.server.review_api, without a server: the photo behind a face with its box
drawn (real photos), each face once on a person's page, suggestions, pages."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

from facerec.server.review_api import PHOTO_LONG_SIDE, is_suggestion, page_of, photo_with_box  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"


def decoded(jpeg: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def test_the_photo_of_a_face_is_scaled_down_with_its_box_drawn():
    big = DATA / "album" / "obama_and_biden.jpg"  # 1280 px wide: scaled to 1024
    image = decoded(photo_with_box(str(big), [400, 200, 200, 200]))
    assert max(image.shape[:2]) == PHOTO_LONG_SIDE
    scale = PHOTO_LONG_SIDE / 1280
    x, y = round(400 * scale), round(200 * scale)
    r, g, b = (int(v) for v in image[y + 40, x])  # on the box's left edge: green
    assert g > 150 and r < 120 and b < 150


def test_a_small_photo_keeps_its_size_and_a_missing_or_unreadable_one_gives_none(tmp_path):
    small = DATA / "core" / "rose_2.jpg"
    from PIL import Image

    assert decoded(photo_with_box(str(small), [10, 10, 50, 50])).shape[1::-1] == Image.open(small).size
    assert photo_with_box(str(tmp_path / "gone.jpg"), [0, 0, 10, 10]) is None
    (tmp_path / "bad.jpg").write_bytes(b"not a photo")
    assert photo_with_box(str(tmp_path / "bad.jpg"), [0, 0, 10, 10]) is None


def face(id_: str, kind: str, path: str, index: int, name: str, named_by: str | None, score: float = 0.0) -> dict:
    return {"id": id_, "kind": kind, "path": path, "face_index": index, "name": name, "named_by": named_by,
            "score": score}


def test_suggestions_are_album_faces_facerec_named_and_nobody_confirmed():
    assert is_suggestion(face("a1", "album", "/a.jpg", 0, "Ann", "facerec", 0.7))
    assert not is_suggestion(face("a2", "album", "/a.jpg", 1, "Ann", "person"))  # confirmed or named by a person
    assert not is_suggestion(face("a3", "album", "/a.jpg", 2, "unknown", None))
    assert not is_suggestion(face("s1", "sample", "/p.jpg", 0, "Ann", "person"))


def test_pages():
    items = list(range(100))
    assert page_of(items, 96, 48) == {"total": 100, "offset": 96, "limit": 48, "items": [96, 97, 98, 99]}
    assert page_of(items, 200, 48)["items"] == []
