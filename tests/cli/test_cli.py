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
