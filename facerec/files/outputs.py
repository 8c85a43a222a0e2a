"""Checks that facerec's outputs (annotated copies, reports, sidecars) can never replace an input photo.

The promise is that photos are only ever opened for reading. Every output path is therefore
checked before anything is written: it must not be one of the run's input photos (compared
after resolving symlinks), a report must not carry an image extension, an annotated-copies
folder must not be the album or a folder above it, and a folder that already holds files must
be one facerec made (it carries a marker file) before copies are written into it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from facerec.errors import FacerecError, UsageError
from facerec.vision.imageio import IMAGE_EXTENSIONS, UNSUPPORTED_IMAGE_EXTENSIONS


class OutputRefused(FacerecError):
    """An output path that would replace an input photo; the output is not written."""


def real(path: str | Path) -> str:
    return os.path.realpath(path)


def input_set(photos: Iterable[str | Path]) -> frozenset[str]:
    """The real paths of a run's input photos, to compare outputs against."""
    return frozenset(real(p) for p in photos)


def refuse_input(target: str | Path, inputs: frozenset[str]) -> None:
    """OutputRefused when writing `target` would replace one of the input photos."""
    if real(target) in inputs:
        raise OutputRefused(f"{target}: refusing to write an output over an input photo")


def check_report_path(path: str | Path, option: str) -> None:
    """A CSV/JSONL report path with an image extension is a mistake that would replace a photo."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS | UNSUPPORTED_IMAGE_EXTENSIONS:
        raise UsageError(f"{option} {path}: refusing to write a report to a file with an image extension ({suffix})")
    if Path(path).is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")


def check_recording_path(path: str | Path, inputs: frozenset[str], overwrite: bool, option: str = "--record") -> None:
    """A recording (a video facerec makes) never replaces an input, a photo, or, unless `overwrite`, any file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS | UNSUPPORTED_IMAGE_EXTENSIONS:
        raise UsageError(f"{option} {path}: refusing to record a video to a file with an image extension ({suffix})")
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name such as {path / 'recording.mp4'}")
    if real(path) in inputs:
        raise UsageError(f"{option} {path}: is the video being read (--source); refusing to record over an input")
    if os.path.lexists(path) and not overwrite:
        raise UsageError(f"{option} {path}: the file already exists and a recording never replaces one; choose a "
                         "new name, or add --overwrite to replace it")


def check_copies_folder(folder: str | Path, album: str | Path, marker: str) -> None:
    """The --annotate folder: not the album, not above it, and new, empty or made by facerec earlier."""
    folder, album = Path(folder), Path(album)
    real_folder, real_album = Path(real(folder)), Path(real(album))
    if real_album == real_folder or real_album.is_relative_to(real_folder):
        raise UsageError(f"--annotate {folder}: is the album or a folder above it, so the copies would replace "
                         "the photos; choose a folder outside the album")
    if folder.is_dir() and not (folder / marker).exists() and any(os.scandir(folder)):
        raise UsageError(f"--annotate {folder}: the folder already holds files facerec did not write; choose a "
                         "new or empty folder (copies are written there with the photos' names)")


def unique_copy_names(photos: Iterable[Path], out_dir: Path, suffix: str, inputs: frozenset[str]) -> dict[Path, Path]:
    """One output path per photo in `out_dir`: '<stem><suffix>', then '<stem>-2<suffix>', ..., never
    an input photo and never the same file twice (two inputs may share a name)."""
    taken = {p.casefold() for p in inputs}  # casefold: a.JPG and a.jpg are one file on macOS and Windows
    names: dict[Path, Path] = {}
    for photo in photos:
        if photo in names:
            continue
        candidate, n = out_dir / f"{photo.stem}{suffix}", 1
        while real(candidate).casefold() in taken:
            n += 1
            candidate = out_dir / f"{photo.stem}-{n}{suffix}"
        taken.add(real(candidate).casefold())
        names[photo] = candidate
    return names
