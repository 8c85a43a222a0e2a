"""No TensorFlow start-up lines on the terminal (they come from C++ at import, whatever TF_CPP_MIN_LOG_LEVEL says)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

REPO = Path(__file__).resolve().parents[2]
NOISE = ("oneDNN", "absl", "cpu_feature_guard", "I0000", "port.cc")


def run_facerec(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell: nothing set
    env.update(PYTHONPATH=str(REPO), FACEREC_OFFLINE="1", FACEREC_HOME=str(tmp_path),
               FACEREC_GALLERY=str(tmp_path / "gallery.sqlite"))
    return subprocess.run([sys.executable, "-m", "facerec.cli.main", *argv], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)


@pytest.mark.parametrize("argv", [("info",), ("--help",)])
def test_commands_print_no_tensorflow_startup_lines_even_without_q(argv, tmp_path):
    done = run_facerec(*argv, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    if argv == ("info",):
        assert "tensorflow 2." in done.stdout  # TensorFlow was really imported (and would have spoken)
    assert not [word for word in NOISE if word in done.stderr], done.stderr


def test_the_filter_keeps_what_is_not_startup_noise(capfd):
    from facerec.quiet import filtered_stderr, is_startup_noise

    with filtered_stderr(lambda line: not is_startup_noise(line)):
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1795556218.329507   23246 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1795556218.329507   23246 real.cc:1] something really broke\n")
        print("a Python warning", file=sys.stderr)
    lines = capfd.readouterr().err.splitlines()  # (under pytest, sys.stderr is not descriptor 2: order differs)
    assert sorted(lines) == ["E0000 00:00:1795556218.329507   23246 real.cc:1] something really broke", "a Python warning"]
