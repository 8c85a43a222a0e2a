"""Face thumbnails for the review page.

Nothing here takes a path from a request: a thumbnail is asked for by person name or detection id, and the
file it is cut from is one the gallery itself records (an enrolled photo, or a photo `tag` looked at). What
goes back is a re-encoded crop of the face, never the file's bytes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facerec.album.cluster import NOISE
from facerec.gallery.learning import media_of_sample
from facerec.vision.align import face_crop
from facerec.errors import ImageError
from facerec.vision.imageio import load_image

THUMBNAIL_SIZE = 112


def jpeg_bytes(rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise ImageError("could not encode a JPEG")
    return buf.tobytes()


def crop_file(path: str, box: Any, size: int = THUMBNAIL_SIZE) -> bytes | None:
    """A JPEG of the face at `box` in the photo at `path`, or None when the photo is gone or unreadable."""
    file = Path(path)
    if not file.is_file():
        return None
    try:
        image = load_image(file)
    except ImageError:
        return None
    return jpeg_bytes(face_crop(image, box, size))




def person_thumbnail(gallery: Any, name: str, embedding: str) -> bytes | None:
    """The first of the person's enrolled photos that can be read, cropped to the enrolled face."""
    for photo in gallery.photos(person=name):
        stored = gallery.face(photo.id, embedding) or gallery.face(photo.id)
        if stored is None:
            continue
        jpeg = crop_file(media_of_sample(photo.path, photo.source), stored[0].box)
        if jpeg is not None:
            return jpeg
    return None


def find_cluster_detection(gallery: Any, embedding: str, detection_id: int) -> Any | None:
    """A still-unnamed detection that belongs to a group (the faces the review page shows), by id."""
    for cluster_id, detections in gallery.clusters(embedding).items():
        if cluster_id == NOISE:
            continue
        for d in detections:
            if d.id == detection_id:
                return d
    return None


def detection_thumbnail(gallery: Any, embedding: str, detection_id: int) -> bytes | None:
    detection = find_cluster_detection(gallery, embedding, detection_id)
    return None if detection is None else crop_file(detection.media_path, detection.face.box)
