"""Alignment: the similarity transform is exact on synthetic points and puts real eyes where the template says."""
from __future__ import annotations

import numpy as np

from facerec.align import align_face, similarity_transform, template_for
from facerec.imageio import load_image


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (scale * rot @ src.T).T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)


def test_aligned_real_face_has_eyes_on_the_template(detector, core_images):
    import cv2

    image = load_image(core_images / "kit_1.jpg")
    face = detector.detect(image)[0]
    chip = align_face(image, face.landmarks_array(), size=224)
    assert chip.shape == (224, 224, 3) and chip.dtype == np.uint8
    # landmarks mapped through the same transform land near the template points
    m = similarity_transform(face.landmarks_array(), template_for(224))
    mapped = cv2.transform(face.landmarks_array()[None], m)[0]
    assert np.abs(mapped - template_for(224)).max() < 12
    # the eyes are level after alignment even if the head was tilted
    assert abs(mapped[0, 1] - mapped[1, 1]) < 6


def test_rotated_photo_aligns_to_the_same_chip(detector, core_images):
    import cv2

    image = load_image(core_images / "kit_1.jpg")
    h, w = image.shape[:2]
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)  # a 20 degree head tilt
    rotated = cv2.warpAffine(image, tilt, (w, h), borderMode=cv2.BORDER_REPLICATE)
    chip = align_face(image, detector.detect(image)[0].landmarks_array(), size=112)
    chip_rot = align_face(rotated, detector.detect(rotated)[0].landmarks_array(), size=112)
    diff = np.abs(chip.astype(float) - chip_rot.astype(float)).mean()
    assert diff < 25, diff  # same face, same pose after alignment (not pixel-identical: landmarks jitter)
