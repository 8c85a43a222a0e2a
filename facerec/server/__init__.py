"""`facerec serve`: one process that answers DeepStack's face API, our own JSON API, a review page and a live view.

Modules, one job each:
  config.py      ServerConfig: what `facerec serve` was started with
  pipelines.py   the shared pipeline (model calls serialised by one lock); the matcher is facerec.recognition.recognizer
  state.py       ServerState: what every request shares (recognizer, per-thread gallery connections, jobs, live view)
  uploads.py     uploaded bytes -> image (400 with the reason), enrolment of an uploaded photo
  thumbnails.py  face crops for the review page, read only from files the gallery itself records
  auth.py        API key, same-origin and loopback-host checks, the request size limit (413)
  errors.py      one error type and the handlers that turn every failure into a JSON HTTP answer
  deepstack.py   DeepStack-compatible /v1/vision/face/* routes
  api.py         our JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json)
  jobs.py        background `tag` jobs with progress
  page.py        the review page at / (static HTML + JS, no CDN)
  live.py        /live: MJPEG of a video source with boxes and names, appear/leave events by Server-Sent Events
  app.py         create_app(): the FastAPI application wired from the above

FastAPI (on Starlette, served by uvicorn) was chosen over bare Starlette for the OpenAPI document it builds
from the route signatures and the request validation (422 with the missing field) that comes with it.
"""
from __future__ import annotations

from facerec.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def create_app(*args, **kwargs):
    from facerec.server.app import create_app as _create_app

    return _create_app(*args, **kwargs)
