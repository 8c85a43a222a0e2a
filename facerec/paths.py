"""Where facerec keeps things: every default location and every FACEREC_* environment variable.

    gallery           FACEREC_GALLERY, else <user data dir>/facerec/gallery.sqlite
    cache home        FACEREC_HOME, else the user cache folder (downloaded weights, their SHA-256 record)
    weights           FACEREC_WEIGHTS_DIR, the cache home and its weights/, the source checkout's models/
    derived from a gallery, beside it, private (0700 folders, 0600 files), forgotten with its people:
      <stem>-heads/<embedding>/   trained heads (head.keras, head.json, base.weights.h5 when fine-tuned)
      <stem>-cache/bottlenecks/   embeddings of augmented chips of the enrolled photos (training cache)
      <stem>-uploads/             photos enrolled over HTTP by `facerec serve`

A trained head belongs to the gallery it was trained on: it names the people of that gallery, so it is
stored beside it (not in the current directory) and found again from any folder.

Nothing here creates a folder; functions only say where things are.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ENV_GALLERY = "FACEREC_GALLERY"
ENV_HOME = "FACEREC_HOME"
ENV_WEIGHTS_DIR = "FACEREC_WEIGHTS_DIR"
ENV_OFFLINE = "FACEREC_OFFLINE"  # "1": never try to download (tests, air-gapped machines)
ENV_BACKBONE = "FACEREC_BACKBONE"
ENV_DETECTOR = "FACEREC_DETECTOR"
ENV_API_KEY = "FACEREC_API_KEY"
ENV_DLIB_ENGINE = "FACEREC_DLIB_ENGINE"
ENV_EMBED_THREADS = "FACEREC_EMBED_THREADS"
ENV_LOCK_TIMEOUT = "FACEREC_LOCK_TIMEOUT_S"
ENV_MQTT_USERNAME = "FACEREC_MQTT_USERNAME"
ENV_MQTT_PASSWORD = "FACEREC_MQTT_PASSWORD"

ENVIRONMENT: dict[str, str] = {
    ENV_BACKBONE: "default backbone",
    ENV_DETECTOR: "default face detector (mtcnn)",
    ENV_GALLERY: "gallery file",
    ENV_HOME: "cache of downloaded weights",
    ENV_WEIGHTS_DIR: "folder of pre-downloaded VGGFace .h5 files",
    ENV_OFFLINE: "1: never download weights",
    ENV_API_KEY: "the key `facerec serve` requires from clients",
    ENV_DLIB_ENGINE: "what runs dlib's network: auto (ONNX Runtime when installed), onnx or dlib",
    ENV_EMBED_THREADS: "threads ONNX Runtime gives dlib's network (default 1)",
    ENV_LOCK_TIMEOUT: "seconds a gallery write waits for another process's (default 30)",
    ENV_MQTT_USERNAME: "MQTT broker user for --mqtt (kept out of `ps`; a user in the URL wins)",
    ENV_MQTT_PASSWORD: "MQTT broker password for --mqtt",
}

APP_NAME = "facerec"
GALLERY_FILENAME = "gallery.sqlite"
# The repository's models/ folder: only exists in a source checkout, searched for weights files.
REPO_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


# ------------------------------------------------------------------------------------------ per user


def default_gallery_path() -> Path:
    """FACEREC_GALLERY, else <user data dir>/facerec/gallery.sqlite."""
    explicit = _env_path(ENV_GALLERY)
    if explicit is not None:
        return explicit
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / GALLERY_FILENAME


def facerec_home() -> Path:
    """FACEREC_HOME, else the per-user cache folder: downloaded weights and their SHA-256 record."""
    explicit = _env_path(ENV_HOME)
    if explicit is not None:
        return explicit
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False))


def weights_cache_dir() -> Path:
    """Where downloaded weights go: <FACEREC_HOME or user cache>/weights."""
    return facerec_home() / "weights"


def weights_dir_from_env() -> Path | None:
    """FACEREC_WEIGHTS_DIR: a folder of weights files fetched by hand (searched first)."""
    return _env_path(ENV_WEIGHTS_DIR)


def keras_vggface_cache_dir() -> Path:
    """Where keras-vggface itself downloads to, so existing users need not download again."""
    keras_home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(keras_home).expanduser() / "models" / "vggface"


def offline() -> bool:
    """FACEREC_OFFLINE set to anything but "" or "0"."""
    return os.environ.get(ENV_OFFLINE, "").strip() not in ("", "0")


def default_backbone_from_env() -> str | None:
    value = os.environ.get(ENV_BACKBONE)
    return value.lower() if value else None


def default_detector_from_env() -> str | None:
    value = os.environ.get(ENV_DETECTOR)
    return value.strip().lower() if value and value.strip() else None


def api_key_from_env() -> str | None:
    return os.environ.get(ENV_API_KEY) or None


def mqtt_credentials_from_env() -> tuple[str | None, str | None]:
    return os.environ.get(ENV_MQTT_USERNAME) or None, os.environ.get(ENV_MQTT_PASSWORD) or None


def dlib_engine_from_env() -> str | None:
    return os.environ.get(ENV_DLIB_ENGINE) or None


def embed_threads_from_env() -> str | None:
    return os.environ.get(ENV_EMBED_THREADS) or None


# --------------------------------------------------------------------------------- beside a gallery


def _beside(gallery: str | Path, suffix: str) -> Path:
    gallery = Path(gallery)
    return gallery.parent / f"{gallery.stem}-{suffix}"


def heads_dir(gallery: str | Path) -> Path:
    """<stem>-heads/ beside the gallery: one folder per embedding id, each holding one trained head."""
    return _beside(gallery, "heads")


def embedding_folder_name(embedding: str) -> str:
    """A file-name-safe form of an embedding id ("dlib:dlibbox2+flip" -> "dlib_dlibbox2+flip")."""
    return re.sub(r"[^A-Za-z0-9.+-]", "_", embedding)


def head_dir(gallery: str | Path, embedding: str) -> Path:
    """Where the head trained on `gallery`'s `embedding` embeddings lives."""
    return heads_dir(gallery) / embedding_folder_name(embedding)


def bottleneck_cache_dir(gallery: str | Path) -> Path:
    """<stem>-cache/bottlenecks/ beside the gallery: embeddings of augmented chips of its enrolled photos."""
    return _beside(gallery, "cache") / "bottlenecks"


def uploads_dir(gallery: str | Path) -> Path:
    """<stem>-uploads/ beside the gallery: photos enrolled over HTTP (`facerec serve`)."""
    return _beside(gallery, "uploads")


def person_uploads_dir(gallery: str | Path, person: str) -> Path:
    """One folder per person in the uploads folder, named by a hash of the name (no name can make a path):
    found again from the name alone, so forgetting them finds every photo uploaded for them."""
    import hashlib

    return uploads_dir(gallery) / hashlib.sha256(person.encode("utf-8")).hexdigest()[:16]


def gallery_own_paths(gallery: str | Path) -> list[Path]:
    """Everything facerec keeps for a gallery: the file, SQLite's files beside it and the folders derived from
    it (heads, caches, uploads). None of it is ever a person's folder or an album photo."""
    gallery = Path(gallery)
    files = [gallery.with_name(gallery.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return files + [heads_dir(gallery), _beside(gallery, "cache"), uploads_dir(gallery)]
