"""DeepStack's face API, in the shapes its clients parse (Home Assistant's deepstack_face via deepstack-python,
Double Take, Viseron, Blue Iris, Agent DVR, the DeepStack SDKs).

    POST /v1/vision/face            image [, min_confidence=0.55] -> {"success", "predictions": [{confidence, y_min, x_min, y_max, x_max}], "duration"}
    POST /v1/vision/face/register   userid, one or more image files (any field names) -> {"success", "message": "face added"|"face updated", "duration"}
    POST /v1/vision/face/recognize  image [, min_confidence]  -> {"success", "predictions": [{confidence, userid, y_min, x_min, y_max, x_max}], "duration"}
    POST /v1/vision/face/list                                   -> {"success", "faces": [userid, ...], "duration"}
    POST /v1/vision/face/delete     userid                      -> {"success", "duration"}
    POST /v1/vision/face/match      any two image files         -> {"success", "similarity", "duration"}

Every form also takes `api_key` when the server has one. Errors, as DeepStack's server answers them (its clients
parse the status codes): {"success": false, "error": "...", "duration": 0} with 400 and DeepStack's texts --
"No valid image file found", "userid not specified", "Invalid value for min_confidence", "min_confidence cannot
be greater than 1", "invalid image", "no face detected" (register), "no face found" (match), "expected two image
files, only one found", "only two images allowed" -- and 401 "Incorrect api key" (no key or a wrong one).
facerec adds 404 (delete of a userid nobody registered), 413 (too large) and 400 for a userid facerec cannot
take as a name.

Confidence. DeepStack reports a similarity in [0, 1] and calls a face unknown below `min_confidence` (default
0.67). facerec's score is already on that scale (facerec.vectors.match_confidence: distance 0 -> 1.0, the
threshold in force -> 0.67, linearly), so the confidence of a face is its FaceResult.score.
A face is named when it is within facerec's threshold *and* its confidence reaches `min_confidence`: a higher
min_confidence is stricter, a lower one never loosens the calibrated threshold (clients such as Home
Assistant default to 0.45, which in DeepStack's own scale would accept strangers). Unknown faces get
confidence 0, as in DeepStack.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from facerec.errors import ImageError, NoFaceError
from facerec.server.auth import check_key
from facerec.server.errors import ApiError, checked_name
from facerec.gallery.forget import forget_person
from facerec.server.uploads import decode_upload, enroll_upload
from facerec.types import UNKNOWN
from facerec.vectors import CONFIDENCE_AT_THRESHOLD, cosine_distance, match_confidence
from facerec.recognition.verify import embed_main_face

DEEPSTACK_MIN_CONFIDENCE = CONFIDENCE_AT_THRESHOLD  # DeepStack's default for recognition: facerec's threshold
DETECT_MIN_CONFIDENCE = 0.55  # DeepStack's default for /v1/vision/face
MAX_USERID_LENGTH = 200
log = logging.getLogger(__name__)
OK_STATUSES = ("ok", "multiple_faces")

router = APIRouter(tags=["DeepStack-compatible face API"])

# The routes read their multipart form themselves (register takes files under any field name), so their
# request bodies are described for the OpenAPI document here.
IMAGE = {"type": "string", "format": "binary"}
API_KEY = {"type": "string", "description": "the server's API key, when it has one"}
MIN_CONFIDENCE = {"type": "number", "minimum": 0, "maximum": 1}


def form_body(required: list[str], **properties: dict) -> dict[str, Any]:
    schema = {"type": "object", "required": required, "properties": {**properties, "api_key": API_KEY}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


# --------------------------------------------------------------------------- conversions


def box_fields(box: Any, shape: tuple[int, ...]) -> dict[str, int]:
    """(x, y, w, h) -> DeepStack's corners, inside the image (MTCNN boxes may start left of or above it)."""
    height, width = shape[:2]
    x, y, w, h = (int(v) for v in box)
    return {"y_min": max(0, y), "x_min": max(0, x), "y_max": min(height, y + h), "x_max": min(width, x + w)}


# --------------------------------------------------------------------------- the form


async def authorised_form(request: Request) -> FormData:
    form = await request.form()
    key = form.get("api_key")
    try:
        check_key(request.app.state.facerec.config.api_key, request, key if isinstance(key, str) else None)
    except ApiError as e:
        if e.status in (401, 403):  # DeepStack answers a missing and a wrong key alike
            raise ApiError(401, "Incorrect api key") from None
        raise
    return form


def form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def form_files(form: FormData) -> list[tuple[str, UploadFile]]:
    return [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]


async def read_file(upload: UploadFile, field: str) -> tuple[bytes, str]:
    data = await upload.read()
    return data, f"{field} ({upload.filename})" if upload.filename else field


async def required_image(form: FormData, field: str = "image") -> tuple[bytes, str]:
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "No valid image file found")
    return await read_file(upload, field)


def min_confidence_of(form: FormData, default: float | None) -> float | None:
    text = form_text(form, "min_confidence")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ApiError(400, "Invalid value for min_confidence") from None
    if value > 1.0:
        raise ApiError(400, "min_confidence cannot be greater than 1")
    if not value >= 0.0:  # DeepStack does not check; a negative one would mean nothing (NaN fails here too)
        raise ApiError(400, "Invalid value for min_confidence")
    return value


def required_userid(form: FormData) -> str:
    userid = form_text(form, "userid")
    if userid is None:
        raise ApiError(400, "userid not specified")
    if len(userid) > MAX_USERID_LENGTH:
        raise ApiError(400, f"userid is longer than {MAX_USERID_LENGTH} characters")
    return checked_name(userid)


def answer(started: float, **fields: Any) -> dict[str, Any]:
    return {"success": True, **fields, "duration": round(time.perf_counter() - started, 4)}


# --------------------------------------------------------------------------- the work (in worker threads)


def decoded(data: bytes, label: str):
    """The upload as an image; DeepStack's "invalid image" (the reason goes to the log) when it is not one."""
    try:
        return decode_upload(data, label)
    except (ApiError, ImageError) as e:  # decode_upload's 400 carries the reason, which DeepStack's text does not
        log.info("invalid image: %s", e)
        raise ApiError(400, "invalid image") from None


def detect_faces(state: Any, data: bytes, label: str, min_confidence: float) -> list[dict[str, Any]]:
    image = decoded(data, label)
    return [{"confidence": round(float(f.confidence), 4), **box_fields(f.box, image.shape)}
            for f in state.pipeline.detect(image) if f.confidence >= min_confidence]


def recognize_faces(state: Any, data: bytes, label: str, min_confidence: float | None) -> list[dict[str, Any]]:
    image = decoded(data, label)
    # camera frames, as DeepStack's clients send: no second look
    faces = state.recognizer.identify_image(image, second_look=False, gallery=state.gallery())
    predictions = []
    for face in faces:
        confidence = float(face.score or 0.0)  # the match confidence under the recognizer's threshold
        known = face.known and (min_confidence is None or confidence >= min_confidence)
        predictions.append({"confidence": round(confidence, 4) if known else 0, "userid": face.name if known else UNKNOWN,
                            **box_fields(face.face.box, image.shape)})
    return predictions


def register_faces(state: Any, userid: str, uploads: list[tuple[bytes, str]]) -> str:
    existed = state.gallery().person_id(userid) is not None
    rows = [enroll_upload(state, userid, data, label) for data, label in uploads]
    if not any(r["status"] in OK_STATUSES for r in rows):
        log.info("register %s: nothing enrolled: %s", userid, "; ".join(f"{r['file']}: {r['note']}" for r in rows))
        if all(r["status"] == "unreadable" for r in rows):
            raise ApiError(400, "invalid image")
        raise ApiError(400, "no face detected")
    return "face updated" if existed else "face added"


def match_faces(state: Any, first: tuple[bytes, str], second: tuple[bytes, str]) -> float:
    vectors = []
    for data, label in (first, second):
        try:
            vectors.append(embed_main_face(decoded(data, label), state.pipeline)[0])
        except NoFaceError:
            log.info("match: no face found in %s", label)
            raise ApiError(400, "no face found") from None
    # the similarity of DeepStack's /match: 0.67 exactly at facerec's verify threshold
    return match_confidence(cosine_distance(vectors[0], vectors[1]), state.verify_threshold)


# --------------------------------------------------------------------------- routes


async def predictions_for_image(request: Request, work: Any, default_min_confidence: float | None) -> dict[str, Any]:
    """The detect and recognize routes: one `image` (+ min_confidence) in, `predictions` out."""
    started = time.perf_counter()
    form = await authorised_form(request)
    data, label = await required_image(form)
    min_confidence = min_confidence_of(form, default_min_confidence)
    predictions = await run_in_threadpool(work, request.app.state.facerec, data, label, min_confidence)
    return answer(started, predictions=predictions)


@router.post("/v1/vision/face", summary="DeepStack: detect faces",
             openapi_extra=form_body(["image"], image=IMAGE, min_confidence=MIN_CONFIDENCE))
@router.post("/v1/vision/face/", include_in_schema=False)
async def face_detect(request: Request) -> dict[str, Any]:
    return await predictions_for_image(request, detect_faces, DETECT_MIN_CONFIDENCE)


@router.post("/v1/vision/face/register", summary="DeepStack: register photos of a person (userid)",
             openapi_extra=form_body(["userid", "image"], userid={"type": "string"}, image=IMAGE))
async def face_register(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    form = await authorised_form(request)
    userid = required_userid(form)
    files = form_files(form)
    if not files:
        raise ApiError(400, "No valid image file found")
    uploads = [await read_file(upload, field) for field, upload in files]
    message = await run_in_threadpool(register_faces, request.app.state.facerec, userid, uploads)
    return answer(started, message=message)


@router.post("/v1/vision/face/recognize", summary="DeepStack: name every face in an image",
             openapi_extra=form_body(["image"], image=IMAGE, min_confidence=MIN_CONFIDENCE))
async def face_recognize(request: Request) -> dict[str, Any]:
    return await predictions_for_image(request, recognize_faces, None)


@router.post("/v1/vision/face/list", summary="DeepStack: the registered userids", openapi_extra=form_body([]))
async def face_list(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    await authorised_form(request)
    state = request.app.state.facerec
    people = await run_in_threadpool(lambda: [p.name for p in state.gallery().people()])
    return answer(started, faces=people)


@router.post("/v1/vision/face/delete", summary="DeepStack: delete a userid and its photos",
             openapi_extra=form_body(["userid"], userid={"type": "string"}))
async def face_delete(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    form = await authorised_form(request)
    userid = required_userid(form)
    state = request.app.state.facerec
    if await run_in_threadpool(lambda: forget_person(state.gallery(), userid)) is None:
        raise ApiError(404, f"userid {userid!r} is not registered")
    return answer(started)


@router.post("/v1/vision/face/match",
             summary="DeepStack: similarity of the faces in two images (any two files; image1, image2 in DeepStack's docs)",
             openapi_extra=form_body(["image1", "image2"], image1=IMAGE, image2=IMAGE))
async def face_match(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    form = await authorised_form(request)
    files = form_files(form)  # DeepStack takes any two files, whatever their field names
    if not files:
        raise ApiError(400, "No valid image file found")
    if len(files) == 1:
        raise ApiError(400, "expected two image files, only one found")
    if len(files) > 2:
        raise ApiError(400, "only two images allowed")
    first, second = [await read_file(upload, field) for field, upload in files]
    similarity = await run_in_threadpool(match_faces, request.app.state.facerec, first, second)
    return answer(started, similarity=round(similarity, 4))
