"""The run's reports: every face as a FaceResult, written as CSV (ROW_FIELDS) or JSON lines (to_dict), atomically."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from facerec.files.atomic import atomic_write_text, csv_cell
from facerec.types import ROW_FIELDS, FaceResult, row_cell
from facerec.album.results import PhotoResult


def face_results(results: Iterable[PhotoResult]) -> Iterator[FaceResult]:
    for r in results:
        yield from r.faces


def write_csv(path: str | Path, results: Iterable[PhotoResult]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for face in face_results(results):
        writer.writerow([csv_cell(row_cell(v)) for v in face.to_row()])  # as `facerec identify` writes them
    atomic_write_text(Path(path), buffer.getvalue())


def write_jsonl(path: str | Path, results: Iterable[PhotoResult]) -> None:
    lines = [json.dumps(face.to_dict(), ensure_ascii=False) for face in face_results(results)]
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
