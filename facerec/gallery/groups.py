"""Stable group ids: a group of unknown faces is defined by its faces, and its integer id is never reused.

After a regrouping, a group whose faces are exactly those of a stored group keeps that id; any other group gets
a fresh id from the gallery's counter (meta 'next_group'), so "group 3" can never come to mean other faces.
An action on a group names the faces the user saw (`check_members`) and is refused when they changed."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from facerec.gallery.decisions import DecisionError

NOISE = -1  # as facerec.album.cluster.NOISE


def store_groups(gallery: Any, backbone: str, labels: Mapping[int, int]) -> dict[int, int]:
    """Store detection id -> clustering label (NOISE for none) with stable group ids; returns label -> group id."""
    members: dict[int, set[int]] = {}
    for detection, label in labels.items():
        if label != NOISE:
            members.setdefault(int(label), set()).add(int(detection))
    with gallery._transaction() as db:
        stored: dict[frozenset[int], int] = {}
        for row in db.execute("SELECT cluster_id, group_concat(id) AS ids FROM detections WHERE backbone = ?"
                              " AND cluster_id IS NOT NULL AND cluster_id != ? AND assigned_person_id IS NULL"
                              " GROUP BY cluster_id", (backbone, NOISE)):
            stored[frozenset(int(i) for i in row["ids"].split(","))] = int(row["cluster_id"])
        next_id = int(db.execute("SELECT value FROM meta WHERE key = 'next_group'").fetchone()[0])
        group_of: dict[int, int] = {}
        for label in sorted(members):  # labels come by decreasing size: new ids follow that order
            kept = stored.get(frozenset(members[label]))
            if kept is None:
                kept, next_id = next_id, next_id + 1
            group_of[label] = kept
        db.execute("UPDATE meta SET value = ? WHERE key = 'next_group'", (str(next_id),))
        db.executemany("UPDATE detections SET cluster_id = ? WHERE id = ?",
                       [(group_of.get(int(label), NOISE), int(d)) for d, label in labels.items()])
    return group_of


def apply_cannot_link(ids: Sequence[int], labels: Sequence[int], apart: Mapping[int, set[int]]) -> list[int]:
    """Labels with every dropped face made NOISE where it landed beside a face of the group it was dropped from."""
    label_of = {int(d): int(c) for d, c in zip(ids, labels)}
    out = list(int(c) for c in labels)
    for position, detection in enumerate(ids):
        label = out[position]
        if label != NOISE and any(label_of.get(peer) == label for peer in apart.get(int(detection), ())):
            out[position] = NOISE
    return out


def check_members(group_id: int, current: Iterable[int], seen: Iterable[int] | None) -> None:
    """Refuse (409) an action on a group whose faces are not the ones the user saw."""
    if seen is None:
        return
    current, seen = set(current), set(int(s) for s in seen)
    if current != seen:
        raise DecisionError(f"group {group_id} changed since it was shown (it now has faces "
                            f"{', '.join('a%d' % d for d in sorted(current)) or 'none'}); list the groups again",
                            409)
