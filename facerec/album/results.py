"""What a tagging run reports: one PhotoResult per photo (its faces are FaceResults) and the TagSummary."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facerec.types import FaceResult


# Media statuses stored in the gallery.
OK, NO_FACE, UNREADABLE = "ok", "no_face", "unreadable"
# What happened to a photo in this run.
ANALYSED, REIDENTIFIED, SKIPPED, FAILED = "analysed", "reidentified", "skipped", "failed"


@dataclass
class PhotoResult:
    path: Path
    rel_path: str
    outcome: str  # ANALYSED, REIDENTIFIED, SKIPPED or FAILED
    status: str  # OK, NO_FACE or UNREADABLE (the gallery's media status)
    note: str = ""
    width: int | None = None
    height: int | None = None
    faces: list[FaceResult] = field(default_factory=list)  # path: relative to the album, as rel_path

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.rel_path, "outcome": self.outcome, "status": self.status, "note": self.note,
                "width": self.width, "height": self.height, "faces": [f.to_dict() for f in self.faces]}


@dataclass
class TagSummary:
    album: str
    photos: int = 0  # image files found
    analysed: int = 0  # decoded + detected this run
    reidentified: int = 0  # names refreshed from stored embeddings
    skipped: int = 0  # unchanged since the last run
    failed: int = 0  # tried this run and could not be read / decoded
    unreadable: int = 0  # could not be read: this run, or an unchanged file that failed before
    no_face: int = 0  # readable, but no face found
    faces: int = 0
    named: int = 0
    unknown: int = 0
    detection_calls: int = 0
    seconds: float = 0.0
    problems: list[dict[str, str]] = field(default_factory=list)  # {"path", "kind", "reason"}
    output_errors: int = 0  # outputs asked for (sidecars) that could not be written
    people: dict[str, int] = field(default_factory=dict)  # name -> faces
    named_by_region: int = 0  # faces named by a region the photo already carried (facerec.album.region_names)
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # regions facerec would name otherwise
    outputs: dict[str, Any] = field(default_factory=dict)
    results: list[PhotoResult] = field(default_factory=list)

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    @property
    def readable(self) -> int:
        return self.photos - self.unreadable

    def to_dict(self, with_photos: bool = True) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "results"}
        d["seconds"] = round(self.seconds, 3)
        d["photos_per_second"] = round(self.photos_per_second, 3)
        if with_photos:
            d["results"] = [r.to_dict() for r in self.results]
        return d
