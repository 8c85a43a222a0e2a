"""The generated bad-input corpus (corpus.py) through detect, verify, identify, enroll and tag.

Every case must end in a documented exit code with a message naming the file, never a traceback
(the `cli` fixture fails on one), and the good photos beside the bad ones must still be processed.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from corpus import Case, build, path_of
from robust_helpers import FACE_A, small_copy, tree_hashes

from facerec.files.atomic import csv_cell
from facerec.names import printable

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

pytest.importorskip("dlib")

FACE_STATUSES = {"ok", "multiple_faces"}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    """A read-only corpus for the commands that only read (detect, identify, verify)."""
    folder = tmp_path_factory.mktemp("corpus") / "corpus"
    return folder, build(folder)


def shown(path: Path) -> str:
    return printable(str(path))


def test_corpus_covers_the_issue_list(corpus):
    _, cases = corpus
    assert len(cases) == 26
    assert sum(c.readable for c in cases) == 17 and sum(c.face for c in cases) == 15


def test_detect(corpus, cli):
    folder, cases = corpus
    run = cli("detect", "--json", *[path_of(folder, c) for c in cases])
    assert run.code == 0  # some images gave faces; each of the others is named with its problem
    results = {r["path"]: r for r in json.loads(run.out)}
    for case in cases:
        result = results[str(path_of(folder, case))]
        assert (result.get("error") is None) == bool(result["faces"]), (case, result)
        if case.face:
            assert len(result["faces"]) >= 1, case
        if not case.readable:
            assert str(path_of(folder, case)) in result["error"], result  # the message names the file
        elif not result["faces"]:
            assert result["error"] == "no face found", result


def test_identify(corpus, cli, enrolled):
    folder, cases = corpus
    _, gallery = enrolled
    run = cli("identify", "--gallery", gallery, *[path_of(folder, c) for c in cases])
    assert run.code == 0  # Ann is found in the good photos; the unreadable ones are named on stderr
    rows = list(csv.reader(io.StringIO(run.out)))
    names = {}
    for row in rows[1:]:
        names.setdefault(row[0], []).append(row[2])
    for case in cases:
        path = shown(path_of(folder, case))
        if case.face:
            assert "Ann" in names[path], case
        if not case.readable:
            assert path not in names and path in run.err, case


@pytest.mark.parametrize("name", ["truncated.jpg", "zero_bytes.jpg", "text.jpg", "huge.png", "bomb.png",
                                  "folder.jpg", "broken_link.jpg", "self_link.jpg", "pipe.jpg"])
def test_verify_refuses_each_unreadable_case(corpus, cli, name):
    folder, _ = corpus
    run = cli("verify", folder / name, FACE_A)
    assert run.code == 3 and str(folder / name) in run.err


@pytest.mark.parametrize("name", ["cmyk.jpg", "gray16.png", "rgba.png", "exif_rotated.jpg", "jpeg_named.png",
                                  os.fsdecode(b"caf\xe9-latin1.jpg")])
def test_verify_reads_each_odd_but_good_photo(corpus, cli, name):
    folder, _ = corpus
    run = cli("verify", FACE_A, folder / name)
    assert run.code == 0 and run.out.startswith("same"), run.out  # the same person, read correctly


PERSON_FOLDERS = {"with space": True, "ünïcødé": True, "emoji 😀": True, "-dash": True, "<x&'\">": True,
                  "new\nline": False, "unknown": False, os.fsdecode(b"Caf\xe9"): False}


def test_enroll(tmp_path, cli):
    people = tmp_path / "people"
    cases = build(people / "Corpus")
    for name in PERSON_FOLDERS:
        small_copy(FACE_A, Path(os.fsdecode(os.path.join(os.fsencode(people), os.fsencode(name), b"p.jpg"))))
    gallery = tmp_path / "g.sqlite"
    run = cli("enroll", people, "--gallery", gallery, "--json")
    assert run.code == 3 and "broken_link.jpg" in run.err  # links that cannot be read: their photos are kept
    rows = {r["path"]: r for r in json.loads(run.out)["photos"]}
    for case in cases:
        path = path_of(people / "Corpus", case)
        row = rows.get(str(path)) or rows.get(shown(path))  # photos by name; what was skipped, printable
        if case.name == "folder.jpg":
            assert row is None  # a folder, walked into
        elif not case.walked:
            assert row["status"] in ("skipped", "unreadable") and row["note"], case
        elif not case.readable:
            assert row["status"] == "unreadable" and row["note"], case
        else:
            # identical copies of one photo: the first is embedded, the others reuse its embedding
            assert row["status"] in (FACE_STATUSES | {"unchanged"} if case.face else {"no_face"}), (case, row)
    enrolled = {p["name"] for p in json.loads(cli("people", "--gallery", gallery, "--json").out)["people"]}
    assert enrolled == {"Corpus"} | {n for n, ok in PERSON_FOLDERS.items() if ok}
    again = cli("enroll", people, "--gallery", gallery, "--json")  # a re-run changes nothing, loses nobody
    assert again.code == 3
    assert {r["status"] for r in json.loads(again.out)["photos"]} <= {"unchanged", "skipped", "unreadable", "no_face"}
    assert {p["name"] for p in json.loads(cli("people", "--gallery", gallery, "--json").out)["people"]} == enrolled


def test_tag(tmp_path, cli):
    album = tmp_path / "album"
    cases = build(album)
    before = tree_hashes(album)
    out = tmp_path / "annotated"
    run = cli("tag", album, "--gallery", tmp_path / "g.sqlite", "--json", "--csv", tmp_path / "faces.csv",
              "--xmp", "--xmp-unknown", "--annotate", out)
    assert run.code == 0
    summary = json.loads(run.out)
    results = {r["path"]: r for r in summary["results"]}
    problems = {p["path"]: p for p in summary["problems"]}
    for case in cases:
        rel, shown_rel = case.name, printable(case.name)  # results carry the name, problems a printable one
        if case.name == "folder.jpg":
            assert rel not in results and shown_rel not in problems
        elif not case.walked:
            assert rel not in results and problems[shown_rel]["reason"], case
        elif not case.readable:
            assert results[rel]["status"] == "unreadable" and problems[shown_rel]["reason"], case
        elif case.face:
            assert results[rel]["status"] == "ok" and results[rel]["faces"], case
            ET.parse(album / (case.name + ".xmp"))  # a well-formed sidecar beside it
            assert (out / case.name).with_suffix(Path(case.name).suffix or ".jpg").exists(), case
    with open(tmp_path / "faces.csv", encoding="utf-8", newline="") as handle:
        tagged = {row["path"] for row in csv.DictReader(handle)}
    assert tagged == {csv_cell(c.name) for c in cases if c.face and c.walked}  # '-leading-dash.jpg: no formula
    after = {k: v for k, v in tree_hashes(album).items() if not k.endswith(".xmp")}
    assert after == before  # no photo modified
    shutil.rmtree(out)
