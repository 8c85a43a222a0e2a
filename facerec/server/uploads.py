"""Uploaded bytes: decode them (400 with the reason when they are not an image) and enrol one as a person's photo."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from facerec.gallery.enroll import DEFAULT_MIN_FACE_SIZE, choose_enrolment_face
from facerec.errors import ImageError
from facerec.files.atomic import atomic_write
from facerec.vision.imageio import load_image
from facerec.server.errors import ApiError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def decode_upload(data: bytes, label: str) -> np.ndarray:
    """RGB array of an uploaded image, or a 400 that says why it is not one."""
    try:
        return load_image(data)
    except ImageError as e:
        raise ApiError(400, str(e).replace("<bytes>", label)) from e


def image_extension(data: bytes) -> str:
    from PIL import Image

    try:
        fmt = (Image.open(io.BytesIO(data)).format or "").lower()
    except Exception:  # noqa: BLE001 - already decoded once; the extension is cosmetic
        fmt = ""
    return {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif", "gif": ".gif", "heif": ".heic",
            "avif": ".avif", "jxl": ".jxl"}.get(fmt, ".img")


def upload_path(gallery: Path, person: str, sha256: str, extension: str) -> Path:
    """One folder per person (facerec.paths.person_uploads_dir), one file per content: the same photo may be a
    sample of two people, and uploading it twice for one person keeps one copy."""
    from facerec.paths import person_uploads_dir

    return person_uploads_dir(gallery, person) / f"{sha256}{extension}"


def make_private_dir(folder: Path) -> None:
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def enroll_upload(state: Any, person: str, data: bytes, label: str,
                  min_face_size: int = DEFAULT_MIN_FACE_SIZE) -> dict[str, Any]:
    """Enrol the main face (largest near the centre) of an uploaded photo as a sample of `person`.

    Returns {"file", "status", "note", "faces"} with the statuses `facerec enroll` reports (ok, multiple_faces,
    no_face, too_small, unreadable). Only photos that give a face are kept: as a private copy in the uploads
    folder beside the gallery, so the review page can show a thumbnail of it.
    """
    try:
        image = load_image(data)
    except ImageError as e:
        return {"file": label, "status": "unreadable", "note": str(e).replace("<bytes>: ", ""), "faces": None}
    choice = choose_enrolment_face(state.pipeline, image, min_face_size)  # as `facerec enroll` chooses
    if choice.face is None:
        return {"file": label, "status": choice.status, "note": choice.note, "faces": choice.faces}
    face, status, note = choice.face, choice.status, choice.note
    embedding = state.pipeline.embed(image, [face])[0]
    sha = hashlib.sha256(data).hexdigest()
    path = upload_path(state.config.gallery, person, sha, image_extension(data))
    make_private_dir(path.parent.parent)
    make_private_dir(path.parent)
    atomic_write(path, data, mode=PRIVATE_FILE)
    try:
        state.gallery().record_photo(person, path, sha, path.stat().st_mtime, len(data), status,
                                     note or f"uploaded as {label}", state.backbone, face, embedding)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"file": label, "status": status, "note": note, "faces": choice.faces}
