"""Stable album-face rows: a face found again in a photo keeps its `detections` row, so its id and the human
decisions about it (facerec.gallery.decisions) survive re-identification, `tag --force` and re-embedding with
another backbone or detector.

A new detection takes over the old row of the same photo whose box overlaps it most (intersection over union at
least MIN_OVERLAP, each old row used once); old rows nobody took over are deleted, new faces get new rows."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from facerec.types import UNKNOWN, box_iou

MIN_OVERLAP = 0.5  # IoU above which two boxes of one photo are one face (two people's faces barely overlap)


def match_boxes(old: Sequence[Sequence[float]], new: Sequence[Sequence[float]],
                min_overlap: float = MIN_OVERLAP) -> dict[int, int]:
    """new index -> old index, greedily by decreasing overlap, each old box used once."""
    pairs = sorted(((box_iou(o, n), j, i) for i, o in enumerate(old) for j, n in enumerate(new)), reverse=True)
    taken_old: set[int] = set()
    out: dict[int, int] = {}
    for overlap, j, i in pairs:
        if overlap < min_overlap:
            break
        if j not in out and i not in taken_old:
            out[j] = i
            taken_old.add(i)
    return out


_COLUMNS = ("face_index", "box", "landmarks", "confidence", "backbone", "embedding", "predicted_name", "score",
            "distance")


def store_detections(db: sqlite3.Connection, media_id: int, rows: Sequence[Mapping[str, Any]],
                     keep_assigned: bool) -> None:
    """Write a photo's detections (dicts of _COLUMNS, box as JSON text) inside the caller's transaction.

    keep_assigned: the photo's content is unchanged, so a face a person named keeps that name. A reused row
    keeps its group only while it is unknown with an unchanged embedding (a new embedding is grouped afresh)."""
    old = db.execute("SELECT id, box, backbone, embedding, cluster_id, assigned_person_id FROM detections"
                     " WHERE media_id = ? ORDER BY face_index, id", (media_id,)).fetchall()
    matched = match_boxes([json.loads(r["box"]) for r in old], [json.loads(r["box"]) for r in rows])
    for j, row in enumerate(rows):
        values = [row[c] for c in _COLUMNS]
        if j not in matched:
            db.execute(f"INSERT INTO detections(media_id, {', '.join(_COLUMNS)}) VALUES (?{', ?' * len(_COLUMNS)})",
                       (media_id, *values))
            continue
        was = old[matched[j]]
        # its group stays while it is the same unknown face; a named or re-embedded face leaves it
        keep_group = (was["backbone"] == row["backbone"] and bytes(was["embedding"]) == bytes(row["embedding"])
                      and row["predicted_name"] in (None, UNKNOWN))
        db.execute(f"UPDATE detections SET {', '.join(c + ' = ?' for c in _COLUMNS)}, cluster_id = ?,"
                   " assigned_person_id = ? WHERE id = ?",
                   (*values, was["cluster_id"] if keep_group else None,
                    was["assigned_person_id"] if keep_assigned else None, was["id"]))
    kept = {old[i]["id"] for i in matched.values()}
    for r in old:
        if r["id"] not in kept:
            db.execute("DELETE FROM detections WHERE id = ?", (r["id"],))
