"""Our JSON API under /api/v1, mirroring the CLI; its OpenAPI description is served at /api/v1/openapi.json.

    GET    /api/v1/health                      liveness (no key needed)
    GET    /api/v1/info                        backbone, threshold, gallery, counts
    POST   /api/v1/login                       the review page's key -> a session cookie
    GET    /api/v1/people                      everyone enrolled, with photo counts and a thumbnail URL
    POST   /api/v1/people/{name}/photos        enrol uploaded photos (multipart `images`)
    DELETE /api/v1/people/{name}               forget a person (404 if unknown)
    GET    /api/v1/people/{name}/thumbnail     a face crop (JPEG)
    POST   /api/v1/identify                    every face in `image`: name or unknown, score, distance, box
    POST   /api/v1/verify                      same person in `a` and `b`?
    POST   /api/v1/detect                      boxes, confidence, landmarks
    POST   /api/v1/tag                         tag a folder on the server (a background job; 202)
    GET    /api/v1/jobs, /api/v1/jobs/{id}     the jobs and their progress
    GET    /api/v1/clusters                    groups of unknown faces (grouped after each tag job; a GET never regroups)
    POST   /api/v1/clusters/recompute          group the unknown faces again (after `facerec tag` from a shell)
    POST   /api/v1/clusters/{id}/name          enrol a group as a person (a new name, or merge into someone);
                                               with "detections" (the faces shown): 409 if the group changed
    POST   /api/v1/clusters/{id}/drop          take faces out of a group (for good: they never rejoin it)
    GET    /api/v1/detections/{id}/thumbnail   a face crop of a grouped face (JPEG)
    GET    /api/v1/faces                       faces with ids (a<N> album, s<N> sample); ?person= ?unknown= ?group=
    POST   /api/v1/faces/{id}/confirm          the face is who it is named (or "name"); 404 unknown id, 409 stale
    POST   /api/v1/faces/{id}/reject           the face is not who it is named (or "name"); 404 / 409 likewise
    POST   /api/v1/undo                        take back the last "steps" decisions (409: nothing to undo)
    rename, merge, hide, unhide, cover, move, history: facerec.server.people_api
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from facerec.server.auth import SESSION_COOKIE, check_key, check_login, session_token
from facerec.server.errors import ApiError, checked_name
from facerec.server.state import ServerState
from facerec.server.thumbnails import detection_thumbnail, person_thumbnail
from facerec.gallery.forget import forget_person
from facerec.server.uploads import decode_upload, enroll_upload

MAX_NAME_LENGTH = 200
OK_STATUSES = ("ok", "multiple_faces")


def state_of(request: Request) -> ServerState:
    return request.app.state.facerec


def require_key(request: Request) -> None:
    check_key(state_of(request).config.api_key, request)


router = APIRouter(prefix="/api/v1", tags=["facerec"])
keyed = [Depends(require_key)]


class TagRequest(BaseModel):
    album: str = Field(min_length=1, description="a folder inside one of the server's --album-root folders")
    force: bool = Field(False, description="analyse every photo again, even unchanged ones")


class NameRequest(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, description="new person, or someone enrolled (merge)")
    detections: list[int] | None = Field(None, description="the group's faces as shown: 409 when the group changed")


class FaceDecisionRequest(BaseModel):
    name: str | None = Field(None, max_length=MAX_NAME_LENGTH, description="the person (default: the face's name)")
    seen: str | None = Field(None, max_length=MAX_NAME_LENGTH, description="the name shown: 409 when it changed")


class UndoRequest(BaseModel):
    steps: int = Field(1, ge=1, le=1000, description="how many decision steps to take back")


class DropRequest(BaseModel):
    detections: list[int] = Field(min_length=1, description="ids of faces that do not belong in the group")


def valid_name(name: str) -> str:
    if not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise ApiError(422, f"a name needs 1 to {MAX_NAME_LENGTH} characters")
    return checked_name(name)


def read_upload(upload: UploadFile, field: str) -> tuple[bytes, str]:
    return upload.file.read(), f"{field} ({upload.filename})" if upload.filename else field


def jpeg(data: bytes | None, what: str) -> Response:
    if data is None:
        raise ApiError(404, f"no thumbnail for {what}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


# --------------------------------------------------------------------------- service


@router.get("/health", summary="Liveness: answers once the models are loaded")
def health(request: Request) -> dict[str, Any]:
    from facerec import __version__
    from facerec.server.live import live_health

    state = state_of(request)
    problems = background_problems(state)  # a background loop that fails or waits out errors is seen here
    return {"status": "degraded" if problems else "ok", "version": __version__, "backbone": state.backbone,
            "problems": problems, **live_health(state)}


def background_problems(state: ServerState) -> list[str]:
    problems = state.jobs.problems() if state.jobs is not None else []
    cameras = getattr(state, "cameras", None) or ({"default": state.live} if state.live is not None else {})
    for name, live in cameras.items():
        if (live.status.startswith(("failed", "cannot open", "retrying", "restarting"))
                or (live.finished and live.spec.live)):  # a camera's loop that ended is a problem
            label = "live view" if live is state.live else f"camera {name}"
            problems.append(f"{label}: {live.status}")
    return problems


@router.get("/info", dependencies=keyed, summary="What the server runs with")
def info(request: Request) -> dict[str, Any]:
    from facerec import __version__

    state = state_of(request)
    people = state.gallery().people(state.backbone)
    return {"version": __version__, "backbone": state.backbone, "threshold": state.threshold,
            "gallery": str(state.config.gallery), "people": len(people), "faces": sum(p.faces for p in people),
            "max_upload_mb": state.config.max_upload_bytes / 1024 / 1024, "api_key": bool(state.config.api_key),
            "album_roots": [str(r) for r in state.config.album_roots],
            "live": state.live.describe() if state.live is not None else None}


@router.post("/login", status_code=204, summary="The review page: trade the API key for a session cookie")
def login(request: Request, api_key: str = Form(..., min_length=1)) -> Response:
    state = state_of(request)
    key = state.config.api_key
    check_login(key, request, api_key, state.login_throttle)  # a few wrong keys, then 429 with Retry-After
    response = Response(status_code=204)
    if key:
        response.set_cookie(SESSION_COOKIE, session_token(key), httponly=True, samesite="strict", path="/")
    return response


# --------------------------------------------------------------------------- people


@router.get("/people", dependencies=keyed, summary="Everyone enrolled (hidden people too, marked)")
def people(request: Request) -> dict[str, Any]:
    from facerec.gallery.people_decisions import person_details

    state = state_of(request)
    details = person_details(state.gallery())  # hidden, cover, aliases, similar (facerec.server.people_api)
    return {"backbone": state.backbone, "people": [
        {"name": p.name, "photos": p.photos, "faces": p.faces,
         "thumbnail": f"/api/v1/people/{quote(p.name, safe='')}/thumbnail", **details.get(p.name, {})}
        for p in state.gallery().people(state.backbone)]}


@router.post("/people/{name:path}/photos", dependencies=keyed, summary="Enrol photos of a person (the largest face of each)")
def enroll_photos(request: Request, name: str, images: list[UploadFile] = File(...)) -> dict[str, Any]:
    from facerec.gallery.people_decisions import enrolled_spelling

    state = state_of(request)
    name = enrolled_spelling(state.gallery()._db, valid_name(name))  # "katy_perry" adds to Katy_Perry
    rows = [enroll_upload(state, name, *read_upload(upload, "images")) for upload in images]
    enrolled = sum(r["status"] in OK_STATUSES for r in rows)
    if not enrolled:
        raise ApiError(400, "no photo gave a usable face", {"person": name, "photos": rows})
    return {"person": name, "enrolled": enrolled, "photos": rows}


@router.delete("/people/{name:path}", dependencies=keyed, summary="Forget a person: photos and embeddings")
def forget(request: Request, name: str) -> dict[str, Any]:
    report = forget_person(state_of(request).gallery(), name)  # uploads, album faces, heads and caches too
    if report is None:
        raise ApiError(404, f"nobody called {name!r} is enrolled")
    return {"forgotten": report.name}


@router.get("/people/{name:path}/thumbnail", dependencies=keyed, summary="A face crop of the person (JPEG)",
            response_class=Response)
def person_face(request: Request, name: str) -> Response:
    from facerec.gallery.forget import stored_name

    state = state_of(request)
    stored = stored_name(state.gallery(), name)  # found by the string it was registered with
    if stored is None:
        raise ApiError(404, f"nobody called {name!r} is enrolled")
    return jpeg(person_thumbnail(state.gallery(), stored, state.backbone), stored)


# --------------------------------------------------------------------------- one image


@router.post("/identify", dependencies=keyed, summary="Name every face in an image")
def identify(request: Request, image: UploadFile = File(...)) -> dict[str, Any]:
    state = state_of(request)
    faces = state.recognizer.identify_image(decode_upload(*read_upload(image, "image")), gallery=state.gallery())
    return {"backbone": state.backbone, "threshold": state.threshold, "faces": [f.to_dict() for f in faces]}


@router.post("/verify", dependencies=keyed, summary="Are the main faces of two images the same person?")
def verify(request: Request, a: UploadFile = File(...), b: UploadFile = File(...)) -> dict[str, Any]:
    from facerec.errors import NoFaceError
    from facerec.vectors import cosine_distance
    from facerec.recognition.verify import embed_main_face

    state = state_of(request)
    vectors, details = [], {}
    for field, upload in (("a", a), ("b", b)):
        data, label = read_upload(upload, field)
        try:
            vector, info = embed_main_face(decode_upload(data, label), state.pipeline)
        except NoFaceError:
            raise ApiError(400, f"{label}: no face found") from None
        vectors.append(vector)
        details[field] = {"faces": info["faces"], "box": [int(v) for v in info["box"]]}
    distance = cosine_distance(vectors[0], vectors[1])
    threshold = state.verify_threshold
    return {"same": distance <= threshold, "distance": round(distance, 6), "threshold": threshold,
            "backbone": state.backbone, **details}


@router.post("/detect", dependencies=keyed, summary="Find faces: box, confidence, five landmarks")
def detect(request: Request, image: UploadFile = File(...)) -> dict[str, Any]:
    state = state_of(request)
    return {"faces": [f.to_dict() for f in state.pipeline.detect(decode_upload(*read_upload(image, "image")))]}


# --------------------------------------------------------------------------- tagging and groups


@router.post("/tag", dependencies=keyed, status_code=202, summary="Tag a folder on the server (background job)")
def tag(request: Request, body: TagRequest) -> dict[str, Any]:
    return {"job": state_of(request).jobs.submit(body.album, body.force).to_dict()}


@router.get("/jobs", dependencies=keyed, summary="Tag jobs")
def jobs(request: Request) -> dict[str, Any]:
    return {"jobs": [j.to_dict() for j in state_of(request).jobs.all()]}


@router.get("/jobs/{job_id}", dependencies=keyed, summary="One tag job and its progress")
def job(request: Request, job_id: int) -> dict[str, Any]:
    return {"job": state_of(request).jobs.get(job_id).to_dict()}


@router.get("/clusters", dependencies=keyed, summary="Groups of unknown faces found by tagging (never regroups)")
def clusters(request: Request, recompute: bool = False) -> dict[str, Any]:
    from facerec.album.cluster import list_clusters, needs_clustering

    if recompute:  # a GET never changes anything: a page of another site could otherwise renumber the groups
        raise ApiError(400, "GET never changes anything: POST /api/v1/clusters/recompute groups the faces again")
    state = state_of(request)
    gallery = state.gallery()
    groups = list_clusters(gallery, state.backbone)
    return {"backbone": state.backbone, "unknown_faces": len(gallery.unknown_detections(state.backbone)[0]),
            "ungrouped_faces": needs_clustering(gallery, state.backbone),  # found since the last grouping
            "clusters": [{"cluster": c.cluster_id, "faces": c.faces, "photos": c.photos,
                          "detections": [{"id": d, "thumbnail": f"/api/v1/detections/{d}/thumbnail"}
                                         for d in c.detection_ids]} for c in groups]}


@router.post("/clusters/recompute", dependencies=keyed, summary="Group the unknown faces again (changed groups get new ids)")
def recompute(request: Request) -> dict[str, Any]:
    from facerec.album.cluster import recompute_clusters

    state = state_of(request)
    return {"backbone": state.backbone, "clusters": recompute_clusters(state.gallery(), state.backbone)}


def cluster_detection_ids(state: ServerState, cluster_id: int) -> set[int]:
    detections = state.gallery().clusters(state.backbone).get(cluster_id, []) if cluster_id >= 1 else []
    if not detections:
        raise ApiError(404, f"no group {cluster_id} (see GET /api/v1/clusters)")
    return {d.id for d in detections}


@router.post("/clusters/{cluster_id}/name", dependencies=keyed, summary="Enrol a group as a person")
def name_cluster(request: Request, cluster_id: int, body: NameRequest) -> dict[str, Any]:
    from facerec.gallery.people_decisions import name_group

    state = state_of(request)
    name = valid_name(body.name)
    cluster_detection_ids(state, cluster_id)
    naming = name_group(state.gallery(), cluster_id, name, state.backbone, seen=body.detections)  # one undo step
    if not naming.faces:
        raise ApiError(404, f"group {cluster_id} has no unnamed faces left")
    return {"cluster": cluster_id, "name": naming.person, "faces_enrolled": naming.faces, "merged": naming.existed,
            "step": naming.step, "note": naming.note}


@router.post("/clusters/{cluster_id}/drop", dependencies=keyed, summary="Take faces that do not belong out of a group")
def drop_faces(request: Request, cluster_id: int, body: DropRequest) -> dict[str, Any]:
    from facerec.gallery.decisions import drop

    state = state_of(request)
    members = cluster_detection_ids(state, cluster_id)
    strangers = sorted(set(body.detections) - members)
    if strangers:
        raise ApiError(404, f"faces {strangers} are not in group {cluster_id}")
    # a decision (undoable): the faces never rejoin the group's other faces when the groups are recomputed
    step = drop(state.gallery(), cluster_id, body.detections, sorted(members))
    return {"cluster": cluster_id, "dropped": sorted(set(body.detections)), "step": step}


@router.get("/detections/{detection_id}/thumbnail", dependencies=keyed, summary="A grouped face's crop (JPEG)",
            response_class=Response)
def detection_face(request: Request, detection_id: int) -> Response:
    state = state_of(request)
    return jpeg(detection_thumbnail(state.gallery(), state.backbone, detection_id), f"face {detection_id}")


# --------------------------------------------------------------------------- review decisions (facerec.gallery.decisions)


@router.get("/faces", dependencies=keyed, summary="Faces with their ids: enrolled samples and album faces")
def faces(request: Request, person: str | None = None, unknown: bool = False,
          group: int | None = None) -> dict[str, Any]:
    from facerec.gallery.face_list import list_faces

    state = state_of(request)
    return {"backbone": state.backbone, "faces": list_faces(state.gallery(), state.backbone, person=person,
                                                             unknown=unknown, group=group)}


@router.post("/faces/{face_id}/confirm", dependencies=keyed, summary="This face is who it is named (undoable)")
def confirm_face(request: Request, face_id: str, body: FaceDecisionRequest | None = None) -> dict[str, Any]:
    from facerec.gallery.decisions import confirm

    body = body or FaceDecisionRequest()
    name = None if body.name is None else valid_name(body.name)
    return {"confirmed": confirm(state_of(request).gallery(), [face_id], name, seen=body.seen)}


@router.post("/faces/{face_id}/reject", dependencies=keyed, summary="This face is not who it is named (undoable)")
def reject_face(request: Request, face_id: str, body: FaceDecisionRequest | None = None) -> dict[str, Any]:
    from facerec.gallery.decisions import reject

    body = body or FaceDecisionRequest()
    name = None if body.name is None else valid_name(body.name)
    return {"rejected": reject(state_of(request).gallery(), [face_id], name, seen=body.seen)}


@router.post("/undo", dependencies=keyed, summary="Take back the last review decisions")
def undo_decisions(request: Request, body: UndoRequest | None = None) -> dict[str, Any]:
    from facerec.gallery.people_decisions import undo

    steps = undo(state_of(request).gallery(), (body or UndoRequest()).steps)  # person-level steps too
    return {"undone": [d.to_dict() for step in steps for d in step.decisions], "steps": [s.to_dict() for s in steps]}
