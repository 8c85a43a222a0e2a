"""Faults in the middle of a run: kill -9, and a full disk while a sidecar, the CSV or the gallery is written.

The real CLI runs in a child process. After a kill -9, a re-run must give what a clean run gives; after
a failed write, the previous file is intact (or the new one complete), no temporary file is left, and the
command ends in an error message and a non-zero exit code, not a traceback. (A gallery locked by another
process is tested in test_no_crash.py.)
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from robust_helpers import FACE_A, FACE_B, NO_FACE, REPO, people_in, small_copy, tree_hashes

pytest.importorskip("dlib")
pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

RUN_TIMEOUT_S = 120
KILL_SEEDS = (1, 2, 3)
ENROLLED_PHOTOS = 5  # what make_people makes; enroll records them one by one
# tag records a photo without faces at once, embeds the faces of the others (about a second), then records
# them and writes their sidecars and the CSV within a few milliseconds: it is killed in either phase.
TAG_PHASES = {"embedding": 1.0, "writing": 0.003}  # phase -> the most seconds to wait after it started

# Runs `facerec ARGS` with the file-size limit FSIZE_LIMIT set either at start or, with
# FSIZE_AT=module:[Class.]function, just before that function is first called (the disk fills up at that
# moment). SIGXFSZ is ignored, so a write past the limit fails with EFBIG as one to a full disk fails with ENOSPC.
LIMITED_CLI = r"""
import importlib, os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(os.environ["FSIZE_LIMIT"])

def fill_disk():
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

def fill_disk_before(target):
    module_name, attribute = target.split(":")
    owner = importlib.import_module(module_name)
    *classes, name = attribute.split(".")
    for cls in classes:
        owner = getattr(owner, cls)
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        fill_disk()
        return original(*args, **kwargs)
    setattr(owner, name, wrapped)

if os.environ.get("FSIZE_AT"):
    fill_disk_before(os.environ["FSIZE_AT"])
else:
    fill_disk()
from facerec.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return {**env, **extra}


def facerec(*args: object, **env: str) -> subprocess.CompletedProcess:
    """`facerec ARGS` in a child process, to the end."""
    return subprocess.run([sys.executable, "-m", "facerec.cli.main", *map(str, args)], env=child_env(**env),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def facerec_killed_during(args: list[object], progress: Callable[[], int], point: tuple[int, float]) -> None:
    """`facerec ARGS` in a child process, killed with SIGKILL once `progress()` reaches point[0], point[1]
    seconds later (if still running): in the middle of its work, not while Python and the models load."""
    steps, delay_s = point
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "facerec.cli.main", *map(str, args)], env=child_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while child.poll() is None and progress() < steps:
        if time.monotonic() - started > RUN_TIMEOUT_S:
            break
        time.sleep(0.005)
    time.sleep(delay_s)
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait(RUN_TIMEOUT_S)


def facerec_on_a_full_disk(limit: int, at: str | None, *args: object) -> subprocess.CompletedProcess:
    """`facerec ARGS` in a child process whose files cannot grow past `limit` bytes (from `at` on, if given)."""
    env = {"FSIZE_LIMIT": str(limit), **({"FSIZE_AT": at} if at else {})}
    return subprocess.run([sys.executable, "-c", LIMITED_CLI, *map(str, args)], env=child_env(**env),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def assert_clean_failure(run: subprocess.CompletedProcess) -> None:
    assert run.returncode not in (0, -signal.SIGXFSZ), (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    assert "facerec: error:" in run.stderr, run.stderr


def temporary_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".") and ".tmp" in p.name)


def gallery_state(gallery: Path) -> tuple[str, dict[str, int], int]:
    """(integrity check, faces per person, photos recorded): what two equivalent galleries share."""
    with sqlite3.connect(gallery) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        photos = db.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
    db.close()
    return integrity, people_in(gallery), photos


# --------------------------------------------------------------------------- inputs


def make_people(root: Path) -> Path:
    """Four people, five small real photos (the same two faces under different names: enroll does not mind)."""
    for name, photos in {"Ann": [FACE_A, FACE_A], "Bob": [FACE_B], "Cat": [FACE_A], "Dan": [FACE_B]}.items():
        for i, photo in enumerate(photos):
            small_copy(photo, root / name / f"{i}.jpg", side=300 + 40 * i)
    return root


def make_album(root: Path) -> Path:
    for i in range(3):
        small_copy(FACE_A, root / f"a{i}.jpg", side=280 + 40 * i)
        small_copy(FACE_B, root / "sub" / f"b{i}.jpg", side=280 + 40 * i)
    small_copy(NO_FACE, root / "nobody.jpg")
    return root


def rows(gallery: Path, table: str) -> int:
    """Rows in a gallery table, read while another process may be writing it (0 before it exists)."""
    if not gallery.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{gallery}?mode=ro", uri=True, timeout=0.1) as db:
            count = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        db.close()
        return count
    except sqlite3.Error:  # not created yet, or busy
        return 0


def kill_point(seed: int, steps: int, jitter_s: float) -> tuple[int, float]:
    """(steps done, then seconds more) after which the run is killed: somewhere inside its work."""
    rng = random.Random(seed)
    return rng.randrange(1, steps), rng.uniform(0.0, jitter_s)


def sidecars(album: Path) -> int:
    return sum(1 for p in album.rglob("*.xmp") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def clean_enroll(tmp_path_factory) -> tuple[Path, tuple]:
    """(people folder, gallery state after a clean enroll)."""
    root = tmp_path_factory.mktemp("clean_enroll")
    people, gallery = make_people(root / "people"), root / "g.sqlite"
    run = facerec("enroll", people, "--gallery", gallery)
    assert run.returncode == 0, run.stderr
    return people, gallery_state(gallery)


@pytest.fixture(scope="module")
def clean_tag(tmp_path_factory, clean_enroll) -> tuple[Path, dict[str, str]]:
    """(gallery with the people enrolled, hashes of album + sidecars + CSV after a clean tag)."""
    people, _ = clean_enroll
    root = tmp_path_factory.mktemp("clean_tag")
    gallery = root / "people.sqlite"
    assert facerec("enroll", people, "--gallery", gallery).returncode == 0
    template = copy_of(gallery, root / "template.sqlite")  # each tag run starts from a copy with only the people
    album, csv = make_album(root / "album"), root / "faces.csv"
    run = tag(album, copy_of(template, root / "g.sqlite"), csv)
    assert run.returncode == 0, run.stderr
    return template, tag_outputs(album, csv)


def copy_of(src: Path, dst: Path) -> Path:
    """A copy of a gallery, what its write-ahead log holds included."""
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()
    dst.chmod(0o600)
    return dst


def tag(album: Path, gallery: Path, csv: Path) -> subprocess.CompletedProcess:
    return facerec("tag", album, "--gallery", gallery, "--csv", csv, "--xmp")


def tag_outputs(album: Path, csv: Path) -> dict[str, str]:
    """Hashes of every photo and sidecar in the album, and of the CSV (temporary files apart)."""
    hashes = {k: v for k, v in tree_hashes(album).items() if Path(k).name not in temporary_files(album)}
    return {**hashes, "faces.csv": tree_hashes(csv.parent)[csv.name]}


def assert_nothing_half_written(album: Path, csv: Path, clean_outputs: dict[str, str]) -> None:
    """Right after a kill: every sidecar is whole XML, and a CSV, if one was written, is the complete one."""
    import xml.etree.ElementTree as ET

    for sidecar in album.rglob("*.xmp"):
        if sidecar.name not in temporary_files(album):
            ET.parse(sidecar)
    if csv.exists():
        assert tree_hashes(csv.parent)[csv.name] == clean_outputs["faces.csv"]


# --------------------------------------------------------------------------- kill -9


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_enroll_killed_at_a_random_point_then_rerun_equals_a_clean_run(tmp_path, clean_enroll, seed):
    people, clean_state = clean_enroll
    assert clean_state[0] == "ok" and clean_state[1] == {"Ann": 2, "Bob": 1, "Cat": 1, "Dan": 1}
    gallery = tmp_path / "g.sqlite"
    facerec_killed_during(["enroll", people, "--gallery", gallery], lambda: rows(gallery, "photos"),
                          kill_point(seed, ENROLLED_PHOTOS, 0.03))
    if gallery.exists():  # killed after the gallery was created: still a sound SQLite database
        assert gallery_state(gallery)[0] == "ok"
    run = facerec("enroll", people, "--gallery", gallery)
    assert run.returncode == 0, run.stderr
    assert gallery_state(gallery) == clean_state


@pytest.mark.parametrize("seed, phase", zip(KILL_SEEDS, ["embedding", "writing", "writing"]))
def test_tag_killed_at_a_random_point_then_rerun_equals_a_clean_run(tmp_path, clean_tag, seed, phase):
    template, clean_outputs = clean_tag
    album, csv = make_album(tmp_path / "album"), tmp_path / "faces.csv"
    photos = tree_hashes(album)
    gallery = copy_of(template, tmp_path / "g.sqlite")
    started = {"embedding": lambda: rows(gallery, "media"), "writing": lambda: sidecars(album)}[phase]
    facerec_killed_during(["tag", album, "--gallery", gallery, "--csv", csv, "--xmp"], started,
                          kill_point(seed, 2, TAG_PHASES[phase]))
    assert {k: v for k, v in tree_hashes(album).items() if k in photos} == photos  # no photo touched
    assert_nothing_half_written(album, csv, clean_outputs)
    run = tag(album, gallery, csv)
    assert run.returncode == 0, run.stderr
    assert tag_outputs(album, csv) == clean_outputs
    assert gallery_state(gallery)[0] == "ok"


# --------------------------------------------------------------------------- disk full


def test_disk_full_while_writing_a_sidecar_keeps_the_old_one(tmp_path, clean_tag):
    template, _ = clean_tag
    album = tmp_path / "album"
    photo = small_copy(FACE_A, album / "a.jpg")
    sidecar = album / "a.jpg.xmp"
    old = ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
           '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
           ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
           '<?xpacket end="w"?>')
    sidecar.write_text(old)
    photo_hash = tree_hashes(album)["a.jpg"]
    run = facerec_on_a_full_disk(len(old), "facerec.album.xmp:write_sidecars", "tag", album,
                                 "--gallery", copy_of(template, tmp_path / "g.sqlite"), "--xmp")
    assert_clean_failure(run)
    assert "sidecar" in run.stderr and "a.jpg" in run.stdout and "File too large" in run.stdout
    assert sidecar.read_text() == old and tree_hashes(album)["a.jpg"] == photo_hash
    assert temporary_files(album) == []
    assert photo.exists()


def test_disk_full_while_writing_the_csv_keeps_the_old_one(tmp_path, clean_tag):
    template, _ = clean_tag
    album = tmp_path / "album"
    small_copy(FACE_A, album / "a.jpg")
    small_copy(FACE_B, album / "b.jpg")
    csv = tmp_path / "faces.csv"
    csv.write_text("an older report\n")
    run = facerec_on_a_full_disk(40, "facerec.album.tag:write_csv", "tag", album,
                                 "--gallery", copy_of(template, tmp_path / "g.sqlite"), "--csv", csv)
    assert_clean_failure(run)
    assert "faces.csv" in run.stderr
    assert csv.read_text() == "an older report\n"
    assert temporary_files(tmp_path) == []


def test_disk_full_while_writing_the_gallery_keeps_what_was_enrolled(tmp_path, clean_tag):
    template, _ = clean_tag
    gallery = copy_of(template, tmp_path / "g.sqlite")
    before = gallery_state(gallery)
    newcomers = tmp_path / "newcomers"
    small_copy(FACE_A, newcomers / "Eve" / "e.jpg")
    small_copy(FACE_B, newcomers / "Fay" / "f.jpg")
    run = facerec_on_a_full_disk(1024, "facerec.gallery.store:Gallery.record_photo",
                                 "enroll", newcomers, "--gallery", gallery)
    assert_clean_failure(run)
    assert "cannot write to gallery" in run.stderr
    after = gallery_state(gallery)
    assert after == before or (after[0] == "ok" and after[1] == {**before[1], "Eve": 1, "Fay": 1})
    assert facerec("enroll", newcomers, "--gallery", gallery).returncode == 0  # disk freed
    assert gallery_state(gallery)[1] == {**before[1], "Eve": 1, "Fay": 1}
