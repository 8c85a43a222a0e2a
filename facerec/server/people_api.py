"""Person-level review decisions over HTTP (facerec.gallery.people_decisions), under /api/v1 with the key and origin
rules of facerec.server.api. Every change answers the undo `step` it made; POST /api/v1/undo takes steps back.

    POST /api/v1/people/{name}/rename   {"to": NEW}       -> {"person": NEW, "was": OLD, "step"}; 409 if NEW exists
    POST /api/v1/people/{name}/merge    {"into": OTHER}   -> {"person": OTHER, "merged": NAME, "step"}
    POST /api/v1/people/{name}/hide                       -> {"person", "hidden": true, "step"}
    POST /api/v1/people/{name}/unhide                     -> {"person", "hidden": false, "step"}
    POST /api/v1/people/{name}/cover    {"face": "a12"}   -> {"person", "cover", "step"}; 409 if not their face
    POST /api/v1/faces/{id}/move        {"to", "seen"?}   -> {"face", "from", "to", "step"}
    GET  /api/v1/history?limit=20                         -> {"steps": [{"step", "kind", "summary", "at"}]}

Errors: 404 unknown name or face, 409 stale view or a change that does not apply (a rename onto an existing name:
merge instead), 400 a name that cannot be a person's. A name that differs from an enrolled one only by case or by
' ', '_', '-', '.' is that person (the answer's "note" says so).
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from facerec.server.api import MAX_NAME_LENGTH, keyed, state_of, valid_name

router = APIRouter(prefix="/api/v1", tags=["facerec"])


class RenameRequest(BaseModel):
    to: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="the new name (nobody's yet)")


class MergeRequest(BaseModel):
    into: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="the person who stays")


class CoverRequest(BaseModel):
    face: str = Field(min_length=2, max_length=32, description="one of the person's face ids: a<N> or s<N>")


class MoveRequest(BaseModel):
    to: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="the person the face is (enrolled)")
    seen: str | None = Field(None, max_length=MAX_NAME_LENGTH, description="the name shown: 409 when it changed")


@router.post("/people/{name:path}/rename", dependencies=keyed, summary="Give a person another name (undoable)")
def rename_person(request: Request, name: str, body: RenameRequest) -> dict[str, Any]:
    from facerec.gallery.people_decisions import rename

    return rename(state_of(request).gallery(), name, valid_name(body.to))


@router.post("/people/{name:path}/merge", dependencies=keyed, summary="Make one person of two (undoable)")
def merge_person(request: Request, name: str, body: MergeRequest) -> dict[str, Any]:
    from facerec.gallery.people_decisions import merge

    return merge(state_of(request).gallery(), name, body.into)


@router.post("/people/{name:path}/hide", dependencies=keyed, summary="Hide a person from the lists (undoable)")
def hide_person(request: Request, name: str) -> dict[str, Any]:
    from facerec.gallery.people_decisions import set_hidden

    return set_hidden(state_of(request).gallery(), name, True)


@router.post("/people/{name:path}/unhide", dependencies=keyed, summary="List a hidden person again (undoable)")
def unhide_person(request: Request, name: str) -> dict[str, Any]:
    from facerec.gallery.people_decisions import set_hidden

    return set_hidden(state_of(request).gallery(), name, False)


@router.post("/people/{name:path}/cover", dependencies=keyed, summary="Choose a person's cover face (undoable)")
def cover_person(request: Request, name: str, body: CoverRequest) -> dict[str, Any]:
    from facerec.gallery.people_decisions import set_cover

    return set_cover(state_of(request).gallery(), name, body.face)


@router.post("/faces/{face_id}/move", dependencies=keyed, summary="This face is someone else (undoable)")
def move_face(request: Request, face_id: str, body: MoveRequest) -> dict[str, Any]:
    from facerec.gallery.people_decisions import move

    (moved,) = move(state_of(request).gallery(), [face_id], body.to, seen=body.seen)
    return moved


@router.get("/history", dependencies=keyed, summary="The review steps in force, newest first (what undo takes back)")
def history(request: Request, limit: int = 20) -> dict[str, Any]:
    from facerec.gallery.people_decisions import history as steps
    from facerec.server.errors import ApiError

    if not 1 <= limit <= 1000:
        raise ApiError(422, "limit: from 1 to 1000")
    return {"steps": [s.to_dict() for s in steps(state_of(request).gallery(), limit)]}
