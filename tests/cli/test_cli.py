"""The command line as a whole: help for every command, shared options, errors as exit codes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from facerec.cli.main import build_parser, main
from facerec.cli.commands import COMMAND_MODULES


def test_every_command_is_registered_and_explains_itself(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == COMMAND_MODULES
    for name in COMMAND_MODULES:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        for option in ("--backbone", "--gallery", "--json", "--verbose", "--quiet"):
            assert option in out, (name, option)


def test_no_command_prints_help_and_exit_code_2(capsys):
    assert main([]) == 2
    assert "exit codes" in capsys.readouterr().out


def test_unknown_backbone_is_a_clear_error(core_images, capsys):
    assert main(["verify", "--backbone", "alexnet", str(core_images / "kit_1.jpg"), str(core_images / "kit_2.jpg")]) == 1
    assert "unknown backbone 'alexnet'" in capsys.readouterr().err


def test_default_backbone_follows_the_environment(monkeypatch):
    from facerec.backbones import default_backbone

    monkeypatch.setenv("FACEREC_BACKBONE", "SENET50")
    assert default_backbone() == "senet50"
    monkeypatch.delenv("FACEREC_BACKBONE")
    pytest.importorskip("dlib")
    assert default_backbone() == "dlib"


@pytest.mark.slow
def test_missing_vggface_weights_offline_exit_4(core_images, tmp_path):
    """No weights and no network: exit 4 with a message naming the file to download and where to put it."""
    env = {**__import__("os").environ, "FACEREC_OFFLINE": "1", "FACEREC_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "facerec.cli.main", "verify", "--backbone", "resnet50",
                           str(core_images / "kit_1.jpg"), str(core_images / "kit_2.jpg")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 4, proc.stderr
    assert "rcmalli_vggface_tf_notop_resnet50.h5" in proc.stderr and str(tmp_path) in proc.stderr
    assert "\\n" not in proc.stderr and "\nDownload\n" in proc.stderr  # the message's lines, not escapes


# ---- typos, global options, messages ------------------------------------------------------------------


@pytest.mark.parametrize("argv, hint", [
    (["identfy", "x.jpg"], "did you mean identify?"),
    (["identify", "--galery", "g.sqlite", "x.jpg"], "did you mean --gallery?"),
    (["identify", "--matcher", "svn", "x.jpg"], "did you mean svm?"),
    (["tag", "album", "--xmp-nmed-only"], "did you mean --xmp-named-only?"),
])
def test_a_typo_gets_did_you_mean_and_exit_2(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert hint in err
    if argv[0] != "identfy":  # the command's own usage line, not the top-level one
        assert f"usage: facerec {argv[0]} " in err


def test_global_options_go_before_or_after_the_command(tmp_path, capsys):
    import json

    gallery = tmp_path / "g.sqlite"
    for argv in (["-v", "--json", "--gallery", str(gallery), "people"], ["people", "-v", "--json", "--gallery", str(gallery)],
                 ["--json", f"--gallery={gallery}", "--backbone", "dlib", "people", "-q"]):
        assert main(argv) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["gallery"] == str(gallery) and out["people"] == []
    from facerec.cli.main import global_options_after_command

    assert global_options_after_command(["-vv", "--no-flip", "detect", "a.jpg"]) == ["detect", "-vv", "--no-flip", "a.jpg"]
    assert global_options_after_command(["--bogus", "detect"]) == ["--bogus", "detect"]  # left for argparse to refuse


def test_error_messages_render_their_lines_and_escape_the_rest():
    from facerec.cli.main import message_of
    from facerec.errors import WeightsError

    error = WeightsError("cannot download x.h5 (Name or service not known)\nDownload\n  https://example.org/x.h5\n"
                         "into /home/\x1b[31mme")
    text = message_of(error)
    assert "\\n" not in text and text.splitlines()[1:3] == ["Download", "  https://example.org/x.h5"]
    assert "\x1b" not in text and "\\x1b[31m" in text


def test_every_default_a_help_text_states_is_the_one_the_parser_uses():
    """`(default: X)` in an option's help is checked against argparse's default for that option."""
    import argparse
    import re

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    checked = 0
    for name, command in sub.choices.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.help or action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
                continue  # a flag's "default" in its help describes the behaviour without it
            stated = re.search(r"\(default: ([^);,]+)", formatter._expand_help(action))
            if stated is None:
                continue
            default, text = action.default, stated.group(1).strip()
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                assert float(text.split()[0]) == default, (name, action.option_strings, text, default)
            else:
                words = " ".join(map(str, default)) if isinstance(default, list) else str(default)
                assert text.startswith(words), (name, action.option_strings, text, default)
            checked += 1
    assert checked >= 15


def test_help_says_what_the_code_does_where_it_states_a_rule():
    from facerec.heads.head import FaceHead
    from facerec.thresholds import threshold_for

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = next(a for a in sub.choices["train"]._actions if "--max-distance" in a.option_strings)
    assert "identify threshold" in train.help and "verify" not in train.help
    assert FaceHead(backbone="dlib")._resolve_max_distance() == threshold_for("dlib", "identify")
    for name in ("verify", "enroll"):  # the photo's main face: pipeline.main_face, the largest near the centre
        assert "largest near the centre" in " ".join(sub.choices[name].description.split())
    assert "landmarks" in sub.choices["detect"].description
    assert all(len(command.description or "") > 100 for command in sub.choices.values())  # says what it does


def test_confusion_matrix_keeps_whole_names():
    from facerec.cli.commands.evaluate import confusion_table

    headers, rows = confusion_table(["deepface_id03", "deepface_id05", "unknown"], [[2, 0, 1], [0, 3, 0], [0, 0, 0]])
    assert headers == ["true \\ predicted", "1", "2", "3"]
    assert [r[0] for r in rows] == ["1 deepface_id03", "2 deepface_id05", "3 unknown"] and rows[0][1:] == [2, 0, 1]


def test_people_marks_someone_who_cannot_be_recognised(tmp_path, capsys):
    import json

    from facerec.gallery.store import Gallery

    gallery_path = tmp_path / "g.sqlite"
    with Gallery(gallery_path) as gallery:
        gallery.record_photo("Nobody Seen", tmp_path / "blank.jpg", "0" * 64, 1.0, 10, "no_face", "no face found",
                             "dlib:dlibbox2+flip")
    assert main(["people", "--json", "--backbone", "dlib", "--gallery", str(gallery_path)]) == 0
    (person,) = json.loads(capsys.readouterr().out)["people"]
    assert person["faces"] == 0 and person["note"] == "not recognised: no photo gave a face"
    assert main(["people", "--backbone", "dlib", "--gallery", str(gallery_path)]) == 0
    assert "no photo gave a face" in capsys.readouterr().out


def test_detect_annotate_draws_the_five_landmarks(tmp_path):
    import numpy as np

    from facerec.cli.commands.detect import write_annotated
    from facerec.types import Face
    from facerec.vision.imageio import load_image

    landmarks = ((80.0, 110.0), (120.0, 110.0), (100.0, 130.0), (85.0, 150.0), (115.0, 150.0))
    face = Face((50, 80, 100, 100), 0.99, landmarks)
    written = load_image(write_annotated(np.zeros((240, 200, 3), np.uint8), [face], tmp_path / "a.jpg"))
    for x, y in landmarks:
        assert written[int(y), int(x)].max() > 80, (x, y)  # a dot on each landmark
    assert written[165, 100].max() < 30  # and nothing between them


def test_info_shows_the_identify_threshold_that_follows_the_gallery(tmp_path, capsys):
    """`facerec info` counts the faces enrolled for --backbone and shows the threshold identify uses for them."""
    import json

    import numpy as np

    from facerec.backbones import embedding_id
    from facerec.gallery.store import Gallery
    from facerec.thresholds import identify_threshold
    from facerec.types import Face

    key = embedding_id("dlib")
    face = Face((0, 0, 50, 50), 0.99, ((10, 10), (40, 10), (25, 25), (15, 40), (35, 40)))
    with Gallery(tmp_path / "g.sqlite") as gallery:
        for i, vector in enumerate(np.eye(128, dtype=np.float32)[:30]):
            gallery.record_photo(f"P{i % 10}", f"/p/{i}.jpg", str(i), None, None, "ok", "", key, face, vector)
    assert main(["info", "--gallery", str(tmp_path / "g.sqlite"), "--backbone", "dlib", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["gallery"]
    assert (shown["faces"], shown["people"], shown["embedding"]) == (30, 10, key)
    assert shown["identify_threshold"] == identify_threshold(key, 30) < identify_threshold(key, 1)
    assert main(["info", "--gallery", str(tmp_path / "g.sqlite"), "--backbone", "dlib"]) == 0
    assert f"30 faces of 10 people enrolled; identify threshold {identify_threshold(key, 30):.4f}" in capsys.readouterr().out
