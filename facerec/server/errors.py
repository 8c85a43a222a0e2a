"""Every failure becomes a JSON HTTP answer, and the server goes on.

DeepStack's routes (/v1/vision/...) answer in DeepStack's shape, {"success": false, "error": "...", "duration": 0},
which its clients parse; everything else answers {"detail": "..."} like FastAPI does.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facerec.errors import FacerecError, GalleryError, ImageError, MissingExtraError, NoFaceError

log = logging.getLogger(__name__)

DEEPSTACK_PREFIX = "/v1/vision"


class ApiError(Exception):
    """An answer other than 200, with a message for people."""

    def __init__(self, status: int, message: str, extra: dict | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. Retry-After with a 429


def checked_name(raw: str) -> str:
    """A person's name as it enters over HTTP, validated by the one rule facerec has (facerec.names)."""
    from facerec.names import InvalidNameError, person_name

    try:
        return person_name(raw)
    except InvalidNameError as e:
        raise ApiError(400, str(e)) from None


def status_for(error: FacerecError) -> int:
    from facerec.gallery.decisions import DecisionError

    if isinstance(error, DecisionError):  # an unknown (404) or stale (409) id: nothing was changed
        return error.status
    if isinstance(error, (ImageError, NoFaceError)):
        return 400
    if isinstance(error, MissingExtraError):
        return 501
    if isinstance(error, GalleryError):
        from facerec.gallery.retry import is_transient

        return 503 if is_transient(error) else 400  # a gallery another process holds locked: try again later
    return 500


def error_response(request: Request, status: int, message: str, extra: dict | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    if request.url.path.startswith(DEEPSTACK_PREFIX):
        body = {"success": False, "error": message, "duration": 0}
    else:
        body = {"detail": message, **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.message, exc.extra, exc.headers)

    @app.exception_handler(FacerecError)
    async def _facerec_error(request: Request, exc: FacerecError) -> JSONResponse:
        return error_response(request, status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 422, validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from facerec.gallery.retry import is_transient

        if is_transient(exc):  # a read that met a gallery held locked, or briefly unreadable, by another process
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return error_response(request, 503, f"the gallery is busy or briefly unreadable ({exc}); try again")
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(request, 500, f"internal error: {type(exc).__name__}")
