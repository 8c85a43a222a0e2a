"""Routes the review page needs beyond the CLI's mirror (issue 19): face crops and photos by face id, and the
people and faces lists in pages, searched and filtered, so that nothing renders everything at once.

    GET /api/v1/faces/{id}/thumbnail   a face crop (JPEG) of any face: a<N> album face, s<N> enrolled sample
    GET /api/v1/faces/{id}/photo       the photo the face came from, long side <= 1024 px, the face's box drawn
    GET /api/v1/review/people          people in pages: ?q= (search) ?hidden= ?offset= ?limit=
    GET /api/v1/review/faces           faces in pages: ?person= ?unknown= ?ungrouped= ?group= ?suggested= ...

Same key and origin rules as every /api/v1 route. Nothing here takes a path from a request: the file behind a
face is one the gallery records, and what goes back is a re-encoded image, never the file's bytes.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import cv2
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from facerec.errors import ImageError
from facerec.names import name_key
from facerec.server.api import jpeg, keyed, people, state_of
from facerec.server.errors import ApiError
from facerec.server.thumbnails import crop_file, jpeg_bytes
from facerec.types import NAMED_BY_FACEREC, UNKNOWN

PHOTO_LONG_SIDE = 1024
PAGE_SIZE = 48
MAX_PAGE = 500
BOX_COLOUR = (40, 220, 90)  # RGB

router = APIRouter(prefix="/api/v1", tags=["review page"])


# --------------------------------------------------------------------------- one face


def face_source(request: Request, face_id: str) -> tuple[str, list[int]]:
    """(the image file a face was found in, its box) for a face id (facerec.gallery.face_list.face_location);
    404 for an unknown id."""
    from facerec.gallery.decisions import DecisionError
    from facerec.gallery.face_list import face_location

    state = state_of(request)
    try:
        found = face_location(state.gallery(), face_id, state.backbone)
    except DecisionError as e:
        raise ApiError(404, str(e)) from None
    if found is None:
        raise ApiError(404, f"no face {face_id} (it may have gone when its photo was re-tagged or its person forgotten)")
    return found


def photo_with_box(path: str, box: list[int]) -> bytes | None:
    """The photo at `path`, its long side at most PHOTO_LONG_SIDE, with the face's box drawn; None if unreadable."""
    from pathlib import Path

    from facerec.vision.imageio import load_image

    if not Path(path).is_file():
        return None
    try:
        image = load_image(Path(path))
    except ImageError:
        return None
    scale = min(1.0, PHOTO_LONG_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    image = image.copy()  # decoded images may be read-only; the box is drawn on a copy
    x, y, w, h = (round(v * scale) for v in box[:4])
    thickness = max(2, round(max(image.shape[:2]) / 300))
    cv2.rectangle(image, (x, y), (x + w, y + h), BOX_COLOUR, thickness)
    return jpeg_bytes(image)


@router.get("/faces/{face_id}/thumbnail", dependencies=keyed, summary="A face crop of any face id (JPEG)",
            response_class=Response)
def face_thumbnail(request: Request, face_id: str) -> Response:
    path, box = face_source(request, face_id)
    return jpeg(crop_file(path, box), f"face {face_id}")


@router.get("/faces/{face_id}/photo", dependencies=keyed, response_class=Response,
            summary="The photo a face came from (long side <= 1024 px), its box drawn (JPEG)")
def face_photo(request: Request, face_id: str) -> Response:
    path, box = face_source(request, face_id)
    return jpeg(photo_with_box(path, box), f"the photo of face {face_id}")


# --------------------------------------------------------------------------- pages




def page_of(items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    return {"total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit]}


def with_face_urls(face: dict[str, Any]) -> dict[str, Any]:
    return {**face, "thumbnail": f"/api/v1/faces/{face['id']}/thumbnail", "photo": f"/api/v1/faces/{face['id']}/photo"}


def cover_url(person: dict[str, Any]) -> str:
    cover = person.get("cover")
    return f"/api/v1/faces/{quote(cover, safe='')}/thumbnail" if cover else person["thumbnail"]


@router.get("/review/people", dependencies=keyed, summary="People in pages, searched; hidden people on request")
def people_page(request: Request, q: str = Query("", max_length=200), hidden: bool = False,
                offset: int = Query(0, ge=0), limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """Everyone GET /people lists (with its fields: hidden, cover, similar ...), filtered and cut to one page.
    `q` matches any part of a name, whatever the case and separators; `hidden`: hidden people too."""
    everyone = people(request)["people"]
    wanted = name_key(q)  # case and separators do not count: "katy perry" finds Katy_Perry (facerec.names)
    shown = [p for p in everyone if (hidden or not p.get("hidden")) and wanted in name_key(p["name"])]
    shown.sort(key=lambda p: (name_key(p["name"]), p["name"]))
    page = page_of([{**p, "cover_thumbnail": cover_url(p)} for p in shown], offset, limit)
    return {"people": page.pop("items"), **page, "hidden": sum(bool(p.get("hidden")) for p in everyone)}


def is_suggestion(face: dict[str, Any]) -> bool:
    """An album face facerec named and nobody has confirmed yet: "Is this P?"."""
    return face["kind"] == "album" and face["named_by"] == NAMED_BY_FACEREC and face["name"] != UNKNOWN


@router.get("/review/faces", dependencies=keyed, summary="Faces in pages: a person's, suggestions, unknown, ungrouped")
def faces_page(request: Request, person: str | None = None, unknown: bool = False, ungrouped: bool = False,
               group: int | None = None, suggested: bool = False, offset: int = Query(0, ge=0),
               limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """GET /faces' faces (with thumbnail and photo URLs), each once (facerec.gallery.face_list), cut to one page. `suggested`: only the names
    facerec gave and nobody confirmed, best score first; `ungrouped`: unknown faces in no group."""
    from facerec.gallery.face_list import list_faces

    state = state_of(request)
    faces = list_faces(state.gallery(), state.backbone, person=person, unknown=unknown or ungrouped, group=group)
    if ungrouped:
        faces = [f for f in faces if f["group"] is None]
    if suggested:
        faces = sorted((f for f in faces if is_suggestion(f)), key=lambda f: -(f["score"] or 0.0))
    page = page_of([with_face_urls(f) for f in faces], offset, limit)
    return {"backbone": state.backbone, "faces": page.pop("items"), **page}
