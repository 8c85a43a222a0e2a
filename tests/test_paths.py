"""facerec.paths: every default location in one place, and the things derived from a gallery beside it."""
from __future__ import annotations

from pathlib import Path

from facerec import paths


def test_the_gallery_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEREC_GALLERY", str(tmp_path / "team.sqlite"))
    assert paths.default_gallery_path() == tmp_path / "team.sqlite"
    monkeypatch.delenv("FACEREC_GALLERY")
    assert paths.default_gallery_path().name == "gallery.sqlite"
    assert paths.default_gallery_path().parent.name == "facerec"


def test_the_cache_home_and_weights_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEREC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACEREC_WEIGHTS_DIR", str(tmp_path / "by_hand"))
    assert paths.weights_cache_dir() == tmp_path / "home" / "weights"
    assert paths.weights_dir_from_env() == tmp_path / "by_hand"
    from facerec.backbones.weights import search_dirs

    assert search_dirs()[:3] == [tmp_path / "by_hand", tmp_path / "home" / "weights", tmp_path / "home"]


def test_heads_caches_and_uploads_sit_beside_their_gallery_whatever_the_current_folder(monkeypatch, tmp_path):
    gallery = tmp_path / "albums" / "team.sqlite"
    monkeypatch.chdir(tmp_path)
    assert paths.head_dir(gallery, "dlib:dlibbox2+flip") == tmp_path / "albums" / "team-heads" / "dlib_dlibbox2+flip"
    assert paths.bottleneck_cache_dir(gallery) == tmp_path / "albums" / "team-cache" / "bottlenecks"
    assert paths.uploads_dir(gallery) == tmp_path / "albums" / "team-uploads"
    from facerec.server.config import ServerConfig

    assert ServerConfig(gallery=gallery).uploads_dir == paths.uploads_dir(gallery)


def test_embedding_ids_become_safe_folder_names():
    for embedding in ("dlib:dlibbox2+flip", "resnet50:loose30", "a/b\\c:d"):
        name = paths.embedding_folder_name(embedding)
        assert "/" not in name and "\\" not in name and ":" not in name
    assert paths.embedding_folder_name("vgg16:loose30+flip") != paths.embedding_folder_name("vgg16:loose30")


def test_every_facerec_variable_the_package_reads_is_declared_here():
    """A FACEREC_* name used anywhere in facerec/ but not declared in paths.py would be a second home."""
    package = Path(paths.__file__).parent
    declared = set(paths.ENVIRONMENT)
    import re

    for source in package.rglob("*.py"):
        for name in re.findall(r"\bFACEREC_[A-Z_]+\b", source.read_text(encoding="utf-8")):
            if name == "FACEREC_NS":  # the XMP namespace constant, not an environment variable
                continue
            assert name in declared, f"{source.relative_to(package)} reads {name}, which facerec/paths.py does not declare"
