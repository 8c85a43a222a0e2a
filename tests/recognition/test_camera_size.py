"""Camera-size photos: detection looks at a reduced decode (libjpeg's DCT scaling) and the chips are cut from a
decode fine enough for them; the faces, boxes and names must be those of the full decode (today's path)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerec.vision.imageio import load_image, open_photo

DATA = Path(__file__).resolve().parents[1] / "data"
GROUP = DATA / "album" / "obama_and_biden.jpg"  # 1280 px wide, three faces (Biden, Obama, a child)
PEOPLE = {"Barack_Obama": DATA / "core" / "obama_2.jpg", "Joe_Biden": DATA / "core" / "biden_2.jpg"}
THRESHOLD = 0.10  # cosine distance; dlib vectors of one person <= 0.04 apart on these photos, others >= 0.14


def full_path(pipeline, path: Path):
    """Today's path: decode every pixel, detect, align from the full image."""
    image = load_image(path)
    faces = pipeline.detect(image)
    return faces, pipeline.embed_chips(pipeline.align(image, faces))


def reduced_path(pipeline, path: Path):
    faces, chips = pipeline.detect_photo(open_photo(path))
    return faces, pipeline.embed_chips(chips)


def names(vectors: np.ndarray, known: dict[str, np.ndarray]) -> list[str]:
    people = list(known)
    matrix = np.stack([known[p] for p in people])
    out = []
    for v in vectors:
        distances = 1.0 - matrix @ v
        out.append(people[int(distances.argmin())] if distances.min() <= THRESHOLD else "unknown")
    return out


@pytest.fixture(scope="module")
def known(dlib_pipeline) -> dict[str, np.ndarray]:
    return {name: full_path(dlib_pipeline, path)[1][0] for name, path in PEOPLE.items()}


def assert_same_faces(pipeline, path: Path, known: dict[str, np.ndarray] | None = None) -> None:
    faces, vectors = full_path(pipeline, path)
    faces_r, vectors_r = reduced_path(pipeline, path)
    assert len(faces_r) == len(faces) > 0
    width = max(open_photo(path).size)
    for old, new, v_old, v_new in zip(faces, faces_r, vectors, vectors_r):
        # a few pixels of the detection scale (MTCNN looks at 1280 px at most)
        tolerance = max(4, 3 * width / 1280)
        assert np.abs(np.subtract(old.box, new.box)).max() <= tolerance, (path.name, old.box, new.box)
        assert 1.0 - float(v_old @ v_new) < 0.02  # the same face for the backbone
    if known is not None:
        assert names(vectors_r, known) == names(vectors, known)


def upscaled_jpeg(src: Path, dst: Path, factor: int, orientation: int = 1) -> Path:
    with Image.open(src) as im:
        big = im.convert("RGB").resize((im.width * factor, im.height * factor), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = orientation
    if orientation == 6:
        big = big.transpose(Image.Transpose.ROTATE_90)  # stored turned; displays as `src` upscaled
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    dst.write_bytes(buf.getvalue())
    return dst


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_generated_camera_size_jpeg_gives_the_same_faces_and_names(orientation, dlib_pipeline, known, tmp_path):
    path = upscaled_jpeg(GROUP, tmp_path / "big.jpg", 4, orientation)  # 5120 x 3656: a 19 MP photo
    photo = open_photo(path)
    assert photo.size == (5120, 3656)
    assert_same_faces(dlib_pipeline, path, known)
    assert names(reduced_path(dlib_pipeline, path)[1], known) == ["Joe_Biden", "Barack_Obama", "unknown"]


def test_detection_decodes_a_camera_size_jpeg_at_a_quarter(dlib_pipeline, tmp_path):
    path = upscaled_jpeg(GROUP, tmp_path / "big.jpg", 4)
    photo = open_photo(path)
    dlib_pipeline.detect_photo(photo)
    assert min(photo._decoded) == 0.25  # 1280 px are what MTCNN looks at: 1/4 of 5120 is the coarsest decode above


def test_the_real_camera_size_photos_give_the_same_faces(dlib_pipeline, shared_faces):
    photos = [p for p in sorted((shared_faces / "compreface").rglob("*.jpg"))
              if np.prod(open_photo(p).size) >= 20_000_000]
    if not photos:
        pytest.skip("no 20 MP photos in the shared set")
    for path in photos:
        assert_same_faces(dlib_pipeline, path)
