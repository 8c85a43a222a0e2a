"""The second look: faces MTCNN misses at first (a face filling the whole picture) are found, in the
original image's coordinates."""
from __future__ import annotations

import pytest

import numpy as np

from facerec.vision.imageio import load_image
from facerec.vision.second_look import clip_box, detect_with_second_look, pad_image, relaxed_copy

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)


def tight_crop(image, face, trim: float = 0.2):
    """The inner part of the face box (forehead and chin cut), as a 150x150 face thumbnail: what a
    photo manager exports and what MTCNN's first look misses."""
    import cv2

    x, y, w, h = face.box
    inner = image[int(y + trim * h):int(y + h - trim * h), int(x + trim * w):int(x + w - trim * w)]
    return cv2.resize(np.ascontiguousarray(inner), (150, 150), interpolation=cv2.INTER_AREA)


def test_a_face_filling_the_picture_is_found_on_the_second_look(detector, core_images):
    found_first, found_second = 0, 0
    for name in ("kit_1.jpg", "rose_1.jpg", "obama_2.jpg", "biden_2.jpg", "kit_2.jpg", "rose_2.jpg"):
        image = load_image(core_images / name)
        crop = tight_crop(image, max(detector.detect(image), key=lambda f: f.area))
        found_first += bool(detector.detect(crop))
        faces = detect_with_second_look(detector, crop)
        found_second += bool(faces)
        for f in faces:  # mapped back into the crop
            x, y, w, h = f.box
            assert x >= 0 and y >= 0 and x + w <= crop.shape[1] and y + h <= crop.shape[0]
            assert all(-0.25 * crop.shape[1] < px < 1.25 * crop.shape[1] for px, _ in f.landmarks)
    assert found_second == 6
    assert found_first <= 1  # the first look misses (nearly) all of them: that is what the second look is for


def test_second_look_finds_nothing_where_there_is_no_face(detector, core_images):
    assert detect_with_second_look(detector, load_image(core_images / "noface_017.jpg")) == []


def test_second_look_is_not_taken_when_the_first_finds_a_face(detector, core_images):
    image = load_image(core_images / "kit_1.jpg")
    assert detect_with_second_look(detector, image) == detector.detect(image)


def test_padding_and_relaxing_do_not_change_the_detector():
    from facerec.vision.detect import Detector

    detector = Detector()
    relaxed = relaxed_copy(detector)
    assert relaxed.stage_thresholds != detector.stage_thresholds
    assert detector.stage_thresholds == (0.6, 0.7, 0.8) and detector.min_confidence == 0.9
    padded, pad = pad_image(np.zeros((40, 80, 3), np.uint8))
    assert padded.shape == (40 + 2 * pad, 80 + 2 * pad, 3) and pad == 20
    assert clip_box(-5, -5, 20, 20, (10, 10, 3)) == (0, 0, 10, 10)


class ShapeRecordingDetector:
    """A real Detector that also records the size of every image it is given."""

    def __new__(cls, **kwargs):
        from facerec.vision.detect import Detector

        class Recording(Detector):
            def detect(self, image):
                seen.append(image.shape[:2])
                return super().detect(image)

        seen: list[tuple[int, int]] = []
        detector = Recording(**kwargs)
        detector.seen = seen
        return detector


def test_the_second_look_pads_a_long_thin_image_by_its_shorter_side():
    """It padded by a quarter of the longer side on every side: a 100000x1 PNG of 372 bytes became a 22 GB image."""
    detector = ShapeRecordingDetector()
    assert detect_with_second_look(detector, np.full((2, 8000, 3), 128, np.uint8)) == []
    padded = detector.seen[1:]  # the first is the image itself
    assert padded and all(h * w <= 1_300 * 10 for h, w in padded)  # at most 1280 x (2 + 2 * 2)


@pytest.mark.parametrize("min_face_size", [20, 150])
def test_the_second_look_of_a_large_photo_works_on_a_copy_the_size_the_detector_uses(detector, core_images,
                                                                                      min_face_size):
    """A 3000x3000 face thumbnail: found, in its own pixels, without padding 9 MP into 20 MP first."""
    import cv2

    image = load_image(core_images / "kit_1.jpg")
    crop = cv2.resize(tight_crop(image, max(detector.detect(image), key=lambda f: f.area)), (3000, 3000))
    detector = ShapeRecordingDetector(min_face_size=min_face_size)
    faces = detect_with_second_look(detector, crop)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 0 <= x and 0 <= y and x + w <= 3000 and y + h <= 3000 and w > 1500  # the face fills the picture
    assert max(max(shape) for shape in detector.seen[1:]) <= 1.5 * detector.max_side + 2
