"""Shared by the robustness tests: small real face photos, file hashes, gallery contents."""
from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image
from facerec.backbones import embedding_id

DATA = Path(__file__).resolve().parent.parent / "data"
PEOPLE = DATA / "people"
REPO = DATA.parent.parent
# One real photo per person, and one with nobody in it.
FACE_A = PEOPLE / "deepface_id03" / "img48.jpg"
FACE_B = PEOPLE / "deepface_id05" / "img16.jpg"
NO_FACE = DATA / "core" / "noface_017.jpg"


def small_copy(src: Path, dst: Path, side: int = 360, **save) -> Path:
    """A copy of a real photo at most `side` px on its longer side: MTCNN is quicker on it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im.thumbnail((side, side))
        im.save(dst, **save)
    return dst


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every regular file under root (links not followed)."""
    return {p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def people_in(gallery: Path) -> dict[str, int]:
    from facerec.gallery.store import Gallery

    with Gallery(gallery, create=False) as g:
        return {p.name: p.faces for p in g.people(embedding_id("dlib"))}
