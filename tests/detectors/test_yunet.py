"""YuNet's model file: fetched once with a pinned SHA-256; offline, a clear error (exit 4) saying where to put it;
a file with another hash is never used."""
from __future__ import annotations

import numpy as np
import pytest

from facerec.cli.main import main
from facerec.detectors import get_detector, yunet
from facerec.errors import WeightsError


def test_offline_without_the_file_exit_4_with_the_url_the_path_and_the_hash(capsys, core_images):
    assert main(["detect", "--detector", "yunet", str(core_images / "obama_2.jpg")]) == 4
    err = capsys.readouterr().err
    assert yunet.URL in err and yunet.SHA256 in err and str(yunet.cache_path()) in err
    assert "--detector mtcnn" in err and "Traceback" not in err


def test_offline_error_is_raised_before_anything_is_written():
    with pytest.raises(WeightsError, match="FACEREC_OFFLINE"):
        get_detector("yunet").detect(np.zeros((64, 64, 3), np.uint8))
    assert not yunet.cache_path().exists() and not yunet.cache_path().with_suffix(".part").exists()


def test_a_file_with_another_hash_is_refused():
    path = yunet.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * yunet.SIZE)
    with pytest.raises(WeightsError, match="is not YuNet's"):
        yunet.model_path()
    assert path.read_bytes() == b"\0" * yunet.SIZE  # reported, never deleted


def test_a_pre_downloaded_copy_in_the_weights_dir_is_found_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / yunet.FILENAME).write_bytes(b"not an onnx model")
    with pytest.raises(WeightsError, match=str(tmp_path)):
        yunet.model_path()


def test_info_says_it_is_downloaded_on_first_use():
    status = yunet.weights_status()
    assert status["present"] is False and "first use" in status["weights"]
