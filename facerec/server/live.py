"""The live view: `facerec serve --source SRC` identifies people in a camera, video file or stream, and
shows it in any browser at /live — no window, no GUI build of OpenCV, no plugin.

    GET /live                    the page (static/live.html): the video and a list of events
    GET /live/stream.mjpg        the annotated video as MJPEG (multipart/x-mixed-replace), boxes and names drawn
    GET /live/events             appeared / left / renamed events as Server-Sent Events (`id:` = event number,
                                 so a reconnecting EventSource resumes with Last-Event-ID; recent events are
                                 replayed to a new client)
    GET /api/v1/live             status and the recent events as JSON, for clients that poll

The loop is facerec.video.loop.run_loop on the shared pipeline (its model calls take turns with requests) and a
matcher that follows the gallery, so a person enrolled while the video runs is named from then on. Video
files play at their own speed; --loop plays them again when they end. Frames are JPEG-encoded only while
someone watches.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from typing import Any, AsyncIterator

import cv2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from facerec.server.errors import ApiError

log = logging.getLogger(__name__)

BOUNDARY = "facerecframe"
MAX_EVENTS = 500
POLL_S = 0.04
KEEPALIVE_S = 15.0
RETRY_SOURCE_S = 5.0


class LiveView:
    def __init__(self, state: Any, source: str, *, loop: bool = False, detect_every: int = 3):
        from facerec.video.sources import parse_source

        self.state = state
        self.source = source
        self.spec = parse_source(source)
        self.loop = loop
        self.detect_every = detect_every
        self.status = "starting"
        self.finished = False
        self.rounds = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jpeg: bytes | None = None
        self._frame_seq = 0
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._event_seq = 0
        self.viewers = 0

    def describe(self) -> str:
        return self.spec.describe()  # stream passwords redacted

    # ---- the loop thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="facerec-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from facerec.video.sources import SourceError, open_video
        from facerec.video.loop import run_loop

        matcher = self.state.recognizer  # refitted when someone is enrolled while the view runs
        try:
            while not self._stop.is_set():
                try:
                    video = open_video(self.source, realtime=True)
                except SourceError as e:
                    self.status = f"cannot open: {e}"
                    log.warning("live view: %s", e)
                    if self.spec.live and not self._stop.wait(RETRY_SOURCE_S):
                        continue  # a camera or stream may come (back) later
                    return
                self.status = f"running: {video.describe()}"
                stats = run_loop(video, self.state.pipeline, matcher, detect_every=self.detect_every,
                                 on_frame=self._on_frame, on_event=self._on_event)
                self.rounds += 1
                self.status = f"ended: {stats.ended}" + (f" ({stats.lost})" if stats.lost else "")
                if not self.loop or stats.ended in ("stopped", "interrupted"):
                    return
        except Exception as e:  # noqa: BLE001 - the live view may die; the server must not
            log.exception("live view failed")
            self.status = f"failed: {e}"
        finally:
            self.finished = True

    def _on_frame(self, result: Any) -> bool:
        if self.viewers > 0 or self._jpeg is None:
            from facerec.video.outputs import annotate_frame

            ok, buf = cv2.imencode(".jpg", annotate_frame(result), [int(cv2.IMWRITE_JPEG_QUALITY), 80])
            if ok:
                with self._lock:
                    self._jpeg = buf.tobytes()
                    self._frame_seq += 1
        return not self._stop.is_set()

    def _on_event(self, event: Any, result: Any) -> None:
        from facerec.video.outputs import wall_clock

        with self._lock:
            self._event_seq += 1
            self._events.append({"id": self._event_seq, **event.to_dict(), "time": wall_clock(), "round": self.rounds})

    # ---- readers
    def frame(self) -> tuple[int, bytes | None]:
        with self._lock:
            return self._frame_seq, self._jpeg

    def events_after(self, last_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if e["id"] > last_id]

    def to_dict(self, events: int = 50) -> dict[str, Any]:
        with self._lock:
            recent = list(self._events)[-events:]
        return {"source": self.describe(), "status": self.status, "finished": self.finished, "rounds": self.rounds,
                "viewers": self.viewers, "events": recent}


# --------------------------------------------------------------------------- routes


def require_key(request: Request) -> None:
    from facerec.server.auth import check_key

    check_key(request.app.state.facerec.config.api_key, request)


def live_of(request: Request) -> LiveView:
    live = request.app.state.facerec.live
    if live is None:
        raise ApiError(404, "no live view: start the server with --source (a camera index, video file or stream URL)")
    return live


router = APIRouter(tags=["live view"], dependencies=[Depends(require_key)])


@router.get("/api/v1/live", summary="Live view: status and recent appear/leave events")
def live_status(request: Request) -> dict[str, Any]:
    return live_of(request).to_dict()


@router.get("/live/stream.mjpg", summary="Live view: annotated video (MJPEG)", response_class=StreamingResponse)
async def live_stream(request: Request) -> StreamingResponse:
    live = live_of(request)
    return StreamingResponse(mjpeg_parts(live, request.app.state.facerec.stopping),
                             media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"Cache-Control": "no-store"})


@router.get("/live/events", summary="Live view: appeared / left / renamed events (Server-Sent Events)",
            response_class=StreamingResponse)
async def live_events(request: Request) -> StreamingResponse:
    live = live_of(request)
    try:
        last_id = int(request.headers.get("last-event-id") or request.query_params.get("after") or 0)
    except ValueError:
        raise ApiError(400, "Last-Event-ID must be an event number") from None
    return StreamingResponse(sse_messages(live, last_id, request.app.state.facerec.stopping),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def mjpeg_parts(live: LiveView, stopping: threading.Event) -> AsyncIterator[bytes]:
    live.viewers += 1
    try:
        shown = -1
        while not stopping.is_set():
            seq, jpeg = live.frame()
            if jpeg is not None and seq != shown:
                shown = seq
                yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                       + jpeg + b"\r\n")
            elif live.finished:
                return
            await asyncio.sleep(POLL_S)
    finally:
        live.viewers -= 1


async def sse_messages(live: LiveView, last_id: int, stopping: threading.Event) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    quiet = 0.0
    while not stopping.is_set():
        events = live.events_after(last_id)
        for event in events:
            last_id = event["id"]
            yield f"id: {event['id']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        quiet = 0.0 if events else quiet + 0.2
        if quiet >= KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(0.2)
