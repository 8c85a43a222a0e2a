"""One folder walker for albums (`tag`) and PEOPLE_DIR (`enroll`) that says what it skipped and why.

Image files are matched by extension, any case (facerec.vision.imageio.IMAGE_EXTENSIONS). Hidden entries
(".name") and non-image files are ignored quietly. Everything else the walk cannot use is a
*problem* with a reason, never a silent skip: formats facerec does not read (.gif), videos (.mp4,
.mov, ...: photos only), the RAW file of a RAW + JPEG pair (one shot, analysed once from its JPEG), broken symbolic links, named pipes and other non-files with an image extension, names that are
not valid UTF-8, and folders that cannot be listed. The folders that could not be listed are also
returned on their own (with broken links: an offline drive's), so that `enroll` never takes "could not
read" for "deleted".

Symlinks are followed, but each real folder is entered once (tracked by (st_dev, st_ino)), so a
link loop cannot hang the walk.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from facerec.vision.formats import DEVELOPED_EXTENSIONS, RAW_EXTENSIONS, VIDEO_EXTENSIONS
from facerec.vision.imageio import IMAGE_EXTENSIONS, UNSUPPORTED_IMAGE_EXTENSIONS
from facerec.names import is_utf8

log = logging.getLogger(__name__)


@dataclass
class WalkResult:
    photos: list[Path] = field(default_factory=list)  # sorted depth first, by name
    problems: list[tuple[Path, str]] = field(default_factory=list)  # skipped entries and why
    # folders that cannot be listed, broken links, entries that cannot be stat-ed: unknown, not gone
    unreadable: list[Path] = field(default_factory=list)


def folder_key(path: Path) -> tuple[int, int]:
    st = os.stat(path)  # follows symlinks: a link and its target share a key
    return st.st_dev, st.st_ino


def walk_images(root: str | Path, exclude: Iterable[str | Path] = (),
                skip_folder: Callable[[Path, list[os.DirEntry]], bool] | None = None) -> WalkResult:
    """Image files under `root`; `exclude` folders and those `skip_folder(path, entries)` names are not entered."""
    root = Path(root)
    excluded = {folder_key(Path(p)) for p in exclude if Path(p).is_dir()}
    result = WalkResult()
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        listed = list_folder(folder, result)
        if listed is None:
            continue
        key, entries = listed
        if key in visited or key in excluded:
            log.info("skipping %s: folder already visited (symlink loop or alias) or excluded", folder)
            continue
        visited.add(key)
        if folder != root and skip_folder is not None and skip_folder(folder, entries):
            continue
        subfolders, photos = [], []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            kind = classify(entry, result)
            if kind == "folder":
                subfolders.append(Path(entry.path))
            elif kind == "photo":
                photos.append(Path(entry.path))
        result.photos.extend(one_file_per_shot(photos, result))
        stack.extend(reversed(subfolders))  # pop() then visits them in name order
    return result


def one_file_per_shot(photos: list[Path], result: WalkResult) -> list[Path]:
    """`photos` of one folder without the RAW files that have a developed picture (JPEG, HEIC, ...) of the
    same stem beside them: a camera set to RAW + JPEG writes both of one shot, which is analysed once,
    from the JPEG (what the camera or the user developed; its sidecar names stay those of the JPEG)."""
    developed: dict[str, Path] = {}
    for path in photos:
        if path.suffix.lower() in DEVELOPED_EXTENSIONS:
            developed.setdefault(path.stem.casefold(), path)
    kept = []
    for path in photos:
        twin = developed.get(path.stem.casefold()) if path.suffix.lower() in RAW_EXTENSIONS else None
        if twin is None:
            kept.append(path)
        else:
            result.problems.append((path, f"RAW file of the same shot as {twin.name}: analysed once, from {twin.name}"))
    return kept


def list_folder(folder: Path, result: WalkResult) -> tuple[tuple[int, int], list[os.DirEntry]] | None:
    """(its key, its entries by name), or None with the problem recorded."""
    try:
        return folder_key(folder), sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        result.problems.append((folder, f"cannot list folder: {e.strerror or e}"))
        result.unreadable.append(folder)
        return None


def classify(entry: os.DirEntry, result: WalkResult) -> str | None:
    """'folder', 'photo' or None (ignored, or a problem recorded in `result`)."""
    path = Path(entry.path)
    suffix = Path(entry.name).suffix.lower()
    try:
        is_dir = entry.is_dir(follow_symlinks=True)
        is_file = not is_dir and entry.is_file(follow_symlinks=True)
    except OSError as e:  # a link to itself (ELOOP), permission on the target
        result.problems.append((path, f"cannot stat: {e.strerror or e}"))
        result.unreadable.append(path)
        return None
    if (is_dir or suffix in IMAGE_EXTENSIONS) and not is_utf8(entry.name):
        result.problems.append((path, "the name is not valid UTF-8; rename it"))
        if is_dir:
            result.unreadable.append(path)
        return None
    if is_dir:
        return "folder"
    if is_file and suffix in IMAGE_EXTENSIONS:
        return "photo"
    if is_file and suffix in UNSUPPORTED_IMAGE_EXTENSIONS:
        result.problems.append((path, f"{suffix} images are not supported; convert it to JPEG or PNG"))
    elif is_file and suffix in VIDEO_EXTENSIONS:
        result.problems.append((path, "a video: facerec reads photos here (faces in a video: facerec webcam --source FILE)"))
    elif not is_file and entry.is_symlink() and not os.path.exists(entry.path):
        result.problems.append((path, "broken symbolic link (its target is missing)"))
        result.unreadable.append(path)
    elif not is_file and suffix in IMAGE_EXTENSIONS:
        result.problems.append((path, "not a regular file (a named pipe, socket or device)"))
    return None
