"""Fixtures for the robustness tests: the CLI run in-process, an enrolled gallery to copy."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from robust_helpers import FACE_A, FACE_B, small_copy

@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """run(*args) -> Run: `facerec ARGS` in this process (models are loaded once per test session)."""
    from facerec.cli.main import main

    def run(*args: object) -> Run:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = e.code if isinstance(e.code, int) else 2
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err, captured.err
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def people_dir(tmp_path_factory) -> Path:
    """PEOPLE_DIR with two people, one small real photo each (read-only template: copy it)."""
    root = tmp_path_factory.mktemp("people") / "people"
    small_copy(FACE_A, root / "Ann" / "a1.jpg")
    small_copy(FACE_B, root / "Bob" / "b1.jpg")
    return root


@pytest.fixture(scope="session")
def enrolled_gallery(tmp_path_factory, people_dir) -> tuple[Path, Path]:
    """(people folder, gallery) with Ann and Bob enrolled with dlib: a template, copy both before changing them."""
    pytest.importorskip("dlib")
    from facerec.gallery.enroll import enroll_folder
    from facerec.gallery.store import Gallery
    from facerec.recognition.pipeline import FacePipeline

    gallery = tmp_path_factory.mktemp("gallery") / "g.sqlite"
    with Gallery(gallery) as g:
        report = enroll_folder(people_dir, g, FacePipeline("dlib"), progress=False)
    assert report.counts() == {"ok": 2}, report.to_dict()
    return people_dir, gallery


@pytest.fixture
def enrolled(tmp_path, enrolled_gallery) -> tuple[Path, Path]:
    """A private copy of `enrolled_gallery`: people folder and gallery, the stored paths moved along."""
    import sqlite3

    people, gallery = enrolled_gallery
    people_copy, gallery_copy = tmp_path / "people", tmp_path / "g.sqlite"
    shutil.copytree(people, people_copy, copy_function=shutil.copy2)  # same mtimes: nothing looks changed
    shutil.copy(gallery, gallery_copy)
    with sqlite3.connect(gallery_copy) as db:
        db.execute("UPDATE photos SET path = ? || substr(path, ?)", (str(people_copy), len(str(people)) + 1))
    db.close()
    return people_copy, gallery_copy
