"""What `facerec serve` was started with."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from facerec.backbones import DEFAULT_BACKBONE
from facerec.paths import uploads_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_MAX_UPLOAD_MB = 20.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True)
class ServerConfig:
    gallery: Path
    backbone: str = DEFAULT_BACKBONE
    weights: Path | None = None
    flip: bool | None = None  # test-time flip; None: the backbone's default
    detector: str | None = None  # a registered detector; None: FACEREC_DETECTOR, else MTCNN
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    album_roots: tuple[Path, ...] = field(default_factory=tuple)  # folders a client may ask us to tag
    threshold: float | None = None  # cosine distance; None: the backbone's default
    min_face_size: int = 20
    source: str | None = None  # live view: camera index, video file or stream URL
    loop: bool = False  # live view: play a video file again when it ends
    detect_every: int = 3
    cameras: tuple[tuple[str, str], ...] = ()  # --camera NAME=SOURCE, after --source (the camera `default`)

    @property
    def uploads_dir(self) -> Path:
        """Photos enrolled over HTTP live beside the gallery (0700 folder, 0600 files): they are its data."""
        return uploads_dir(self.gallery)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
