"""One table of exit codes for every command that reads photos (README, `facerec --help`, behaviour):

0 ok · 1 a negative answer (verify: different people; identify: faces found, nobody known) · 3 no input gives a face
(no face, an unreadable or a missing file) · several inputs with some good: the good ones answer (0 or 1) and the
problem ones are named on stderr. Each command runs, in process, on a photo with a face, one without, an unreadable
file, a missing path, a mix of them, and against a gallery where nobody is enrolled."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from facerec.cli.main import main
from facerec.errors import EXIT_BAD_INPUT, EXIT_NEGATIVE, EXIT_OK

pytestmark = pytest.mark.slow  # runs the detector and the dlib network

DATA = Path(__file__).resolve().parent.parent / "data"
FACE = DATA / "holdout" / "Angelina_Jolie_img10.jpg"  # someone enrolled (tests/data/people)
STRANGER = DATA / "core" / "kit_1.jpg"  # a face nobody enrolled
SAME_AS_STRANGER = DATA / "core" / "kit_2.jpg"
NO_FACE = DATA / "core" / "noface_017.jpg"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    root = tmp_path_factory.mktemp("inputs")
    unreadable = root / "notes.jpg"
    unreadable.write_text("not a photo")
    return {"face": FACE, "stranger": STRANGER, "no face": NO_FACE, "unreadable": unreadable,
            "missing": root / "gone.jpg"}


@pytest.fixture(scope="module")
def galleries(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("galleries")
    enrolled = root / "enrolled.sqlite"
    assert main(["enroll", "-q", "--gallery", str(enrolled), str(DATA / "people")]) == EXIT_OK
    empty = root / "empty.sqlite"
    assert main(["people", "--gallery", str(empty)]) == EXIT_OK  # a gallery file with nobody in it
    return {"enrolled": enrolled, "empty": empty}


def people_dir(root: Path, photos: list[Path | str]) -> Path:
    """PEOPLE_DIR/Someone/<photos> (a str is a name for a file that is not there: not copied)."""
    person = root / "Someone"
    person.mkdir(parents=True)
    for photo in photos:
        if isinstance(photo, Path) and photo.exists():
            shutil.copy(photo, person / photo.name)
    return root


MIX = ["face", "no face", "unreadable", "missing"]

# (command, inputs, gallery, expected exit code)
TABLE = [
    ("detect", ["face"], None, EXIT_OK),
    ("detect", ["no face"], None, EXIT_BAD_INPUT),
    ("detect", ["unreadable"], None, EXIT_BAD_INPUT),
    ("detect", ["missing"], None, EXIT_BAD_INPUT),
    ("detect", MIX, None, EXIT_OK),
    ("identify", ["face"], "enrolled", EXIT_OK),
    ("identify", ["stranger"], "enrolled", EXIT_NEGATIVE),
    ("identify", ["no face"], "enrolled", EXIT_BAD_INPUT),
    ("identify", ["unreadable"], "enrolled", EXIT_BAD_INPUT),
    ("identify", ["missing"], "enrolled", EXIT_BAD_INPUT),
    ("identify", MIX, "enrolled", EXIT_OK),
    ("identify", ["stranger", "no face", "unreadable", "missing"], "enrolled", EXIT_NEGATIVE),
    ("identify", ["face"], "empty", EXIT_NEGATIVE),  # nobody enrolled: nobody can be known
    ("verify", ["stranger", "same as stranger"], None, EXIT_OK),
    ("verify", ["face", "stranger"], None, EXIT_NEGATIVE),
    ("verify", ["face", "no face"], None, EXIT_BAD_INPUT),
    ("verify", ["unreadable", "face"], None, EXIT_BAD_INPUT),
    ("verify", ["face", "missing"], None, EXIT_BAD_INPUT),
    ("enroll", ["face"], "new", EXIT_OK),
    ("enroll", ["no face"], "new", EXIT_BAD_INPUT),
    ("enroll", ["unreadable"], "new", EXIT_BAD_INPUT),
    ("enroll", ["missing"], "new", EXIT_BAD_INPUT),  # the PEOPLE_DIR itself is missing
    ("enroll", MIX, "new", EXIT_OK),
    ("enroll", [], "new", EXIT_BAD_INPUT),  # a person folder without photos: nothing gives a face
]


@pytest.mark.parametrize("command, names, gallery, expected", TABLE,
                         ids=[f"{c}-{'+'.join(n) or 'empty'}-{g or 'no gallery'}" for c, n, g, _ in TABLE])
def test_exit_code_table(command, names, gallery, expected, inputs, galleries, tmp_path, capsys):
    paths = {**inputs, "same as stranger": SAME_AS_STRANGER}
    files = [paths[n] for n in names]
    args = [command]
    if gallery in galleries:
        args += ["--gallery", str(galleries[gallery])]
    elif gallery == "new":
        args += ["--gallery", str(tmp_path / "new.sqlite")]
    if command == "enroll":
        target = tmp_path / "missing-people" if names == ["missing"] else people_dir(tmp_path / "people", files)
        args.append(str(target))
    else:
        args += [str(f) for f in files]
    code = main(args)
    err = capsys.readouterr().err
    assert code == expected, err
    assert "Traceback" not in err
    if len(names) > 1 and command in ("detect", "identify"):
        # the problem inputs are each named on stderr; the good ones answered
        for name in ("no face", "unreadable", "missing"):
            assert paths[name].name in err, (name, err)


def test_identify_json_lists_the_problem_of_each_input(inputs, galleries, capsys):
    import json

    args = ["identify", "--json", "--gallery", str(galleries["enrolled"])] + [str(inputs[n]) for n in MIX]
    assert main(args) == EXIT_OK
    images = {Path(i["path"]).name: i for i in json.loads(capsys.readouterr().out)["images"]}
    assert images[FACE.name]["error"] is None and images[FACE.name]["faces"][0]["name"] == "Angelina_Jolie"
    assert images[NO_FACE.name]["error"] == "no face found"
    assert "not an image" in images["notes.jpg"]["error"] and images["gone.jpg"]["error"]
