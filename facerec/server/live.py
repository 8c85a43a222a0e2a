"""The live view: `facerec serve --source SRC` (the camera `default`) and `--camera NAME=SRC` (repeatable)
identify people in cameras, video files or streams, and show them in any browser at /live — no window, no GUI
build of OpenCV, no plugin.

    GET /live                          the page (static/live.html; ?camera=NAME for another camera)
    GET /live/stream.mjpg              the first camera's annotated video as MJPEG (multipart/x-mixed-replace)
    GET /live/events                   its appeared / left / renamed events as Server-Sent Events (`id:` = event
                                       number, so a reconnecting EventSource resumes with Last-Event-ID; recent
                                       events are replayed to a new client)
    GET /live/NAME/stream.mjpg, /live/NAME/events     the same for the camera NAME
    GET /live/NAME/snapshots/ID.jpg    the face crop of a named person's event ID (what MQTT events link to)
    GET /api/v1/live                   every camera's status and recent events as JSON, for clients that poll

Each camera has its own thread, loop and tracker on the shared pipeline (whose model calls take turns with
requests, requests first: facerec.server.modellock) and a matcher that follows the gallery, so a person
enrolled while the video runs is named from then on. Video files play at their own speed; --loop plays them
again when they end. A camera nobody listens to (no MJPEG viewer, no event-stream subscriber, no MQTT) only
decodes frames, to stay connected. Frames are JPEG-encoded only while someone watches.

A camera loop never dies of an error: any exception (a locked or briefly unreadable gallery, a source that
fails) is logged once per kind, counted, and the loop starts again after a backoff (1 s doubling to 60 s, back
to 1 s after a minute of good running); a stream that drops is opened again. `/api/v1/live` and
`/api/v1/health` show the errors and restarts.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from typing import Any, AsyncIterator

import cv2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from facerec.server.errors import ApiError
from facerec.video.restarts import Restarts

log = logging.getLogger(__name__)

BOUNDARY = "facerecframe"
MAX_EVENTS = 500
MAX_SNAPSHOTS = 100  # face crops kept per camera for MQTT's snapshot links
POLL_S = 0.04
KEEPALIVE_S = 15.0
RETRY_SOURCE_S = 5.0
DEFAULT_CAMERA = "default"


class LiveView:
    """One camera: its loop thread, the latest JPEG, its recent events and snapshots, its MQTT channel."""

    def __init__(self, state: Any, source: str, *, name: str = DEFAULT_CAMERA, loop: bool = False,
                 detect_every: int = 3, mqtt: Any = None, base_url: str | None = None):
        from facerec.video.sources import parse_source

        self.state = state
        self.name = name
        self.source = source
        self.spec = parse_source(source)
        self.loop = loop
        self.detect_every = detect_every
        self.base_url = base_url  # for the snapshot links in MQTT events
        self.channel = mqtt.camera(name) if mqtt is not None else None
        self.status = "starting"
        self.finished = False
        self.rounds = 0
        self.restarts = Restarts(f"live view {name}", log)  # errors per kind, backoff (facerec.video.restarts)
        self.idle = False
        self.processed = 0  # frames that went through detection / tracking (not the idle ones)
        self.stats: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._video: Any = None  # the source being read
        self._jpeg: bytes | None = None
        self._frame_seq = 0
        self._events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self._snapshots: deque[tuple[int, bytes]] = deque(maxlen=MAX_SNAPSHOTS)
        self._event_seq = 0
        self.viewers = 0
        self.subscribers = 0  # event streams open

    def describe(self) -> str:
        return self.spec.describe()  # stream passwords redacted

    def listening(self) -> bool:
        """Someone wants this camera's results: an MJPEG viewer, an event stream or MQTT."""
        return self.viewers > 0 or self.subscribers > 0 or self.channel is not None

    # ---- the loop thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"facerec-live-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        video = self._video
        if video is not None:
            video.stop()  # an idle loop calls no callback that could tell it to stop
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        lock = getattr(self.state.pipeline, "lock", None)
        if hasattr(lock, "mark_background"):
            lock.mark_background()  # requests go first
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    if self._run_once():
                        return
                    continue
                except Exception as e:  # noqa: BLE001 - any error: the camera restarts, the server goes on
                    delay = self.restarts.failed(e, time.monotonic() - began)
                    self._everyone_away()
                self.status = f"restarting in {delay:g} s after {self.restarts.last_error}"
                if self._stop.wait(delay):
                    return
        finally:
            self.finished = True

    def _run_once(self) -> bool:
        """Open the source and run the loop until it ends; True when the camera is done for good."""
        from facerec.video.loop import run_loop
        from facerec.video.sources import SourceError, open_video

        try:
            video = open_video(self.source, realtime=True)
        except SourceError as e:
            self.status = f"cannot open: {e}"
            log.warning("live view %s: %s", self.name, e)
            if not self.spec.live:
                return True
            return self._stop.wait(RETRY_SOURCE_S)  # a camera or stream may come (back) later
        self._video, self.idle = video, False
        if self._stop.is_set():
            video.close()
            return True
        self.status = f"running: {video.describe()}"
        stats = run_loop(video, self.state.pipeline, self.state.recognizer, detect_every=self.detect_every,
                         on_frame=self._on_frame, on_event=self._on_event, active=self._active)
        self.rounds += 1
        self.stats = stats.to_dict()
        self.status = f"ended: {stats.ended}" + (f" ({stats.lost})" if stats.lost else "")
        if self._stop.is_set() or stats.ended in ("stopped", "interrupted"):
            return True
        if stats.lost:  # a stream that dropped (after its own reconnection attempts): open it again
            return self._stop.wait(RETRY_SOURCE_S)
        return not self.loop

    def _everyone_away(self) -> None:
        if self.channel is not None:
            try:
                self.channel.all_away()  # its tracker is gone: nobody is known to be there any more
            except Exception:  # noqa: BLE001 - MQTT trouble must not stop the restart
                log.debug("live view %s: mqtt reset failed", self.name, exc_info=True)

    def _active(self) -> bool:
        active = self.listening()
        if self.idle == active:
            self.idle = not active
            self.status = (f"idle (nobody listening): {self.describe()}" if self.idle
                           else f"running: {self.describe()}")
        return active

    def _on_frame(self, result: Any) -> bool:
        self.processed += 1
        if self.channel is not None:
            self.channel.tick()
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
            event_id = self._event_seq
            self._events.append({"id": event_id, "camera": self.name, **event.to_dict(), "time": wall_clock(),
                                 "round": self.rounds})
        if self.channel is not None:
            self.channel.on_event(event, result, snapshot_url=self._keep_snapshot(event_id, event, result))

    def _keep_snapshot(self, event_id: int, event: Any, result: Any) -> str | None:
        """A known person's crop of this event, kept for MQTT's link to it (strangers' faces are not kept)."""
        from facerec.types import UNKNOWN
        from facerec.video.track import APPEARED, RENAMED
        from facerec.vision.align import face_crop

        if (self.base_url is None or event.kind not in (APPEARED, RENAMED) or event.name == UNKNOWN
                or event.frame != result.frame.index):
            return None
        crop = cv2.cvtColor(face_crop(result.rgb, event.box, margin=0.25), cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", crop, [int(cv2.IMWRITE_JPEG_QUALITY), 85])
        if not ok:
            return None
        with self._lock:
            self._snapshots.append((event_id, buf.tobytes()))
        return f"{self.base_url}/live/{self.name}/snapshots/{event_id}.jpg"

    # ---- readers
    def frame(self) -> tuple[int, bytes | None]:
        with self._lock:
            return self._frame_seq, self._jpeg

    def snapshot(self, event_id: int) -> bytes | None:
        with self._lock:
            return next((jpeg for i, jpeg in self._snapshots if i == event_id), None)

    def events_after(self, last_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._events if e["id"] > last_id]

    def health(self) -> dict[str, Any]:
        """For /api/v1/health, which needs no key: counts only (no source, no error text)."""
        running = self._thread is not None and self._thread.is_alive()
        return {"name": self.name, "running": running, "idle": self.idle, "restarts": self.restarts.count,
                "errors": dict(self.restarts.errors)}

    def to_dict(self, events: int = 50) -> dict[str, Any]:
        with self._lock:
            recent = list(self._events)[-events:]
        out = {"name": self.name, "source": self.describe(), "status": self.status, "finished": self.finished,
               "rounds": self.rounds, "viewers": self.viewers, "subscribers": self.subscribers, "idle": self.idle,
               "processed_frames": self.processed,
               **self.restarts.to_dict(),
               "last_round": self.stats, "events": recent}
        if self.channel is not None:
            out["mqtt"] = self.channel.publisher.to_dict()
        return out


def camera_list(source: str | None, cameras: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """(name, source) of every camera: --source is the camera `default`, first; then each --camera."""
    listed = ([(DEFAULT_CAMERA, source)] if source is not None else []) + list(cameras)
    names = [name for name, _ in listed]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        from facerec.errors import UsageError

        raise UsageError(f"camera name used twice: {', '.join(duplicated)} (--source is the camera `default`)")
    return listed


def live_health(state: Any) -> dict[str, Any]:
    """What /api/v1/health says about the cameras."""
    return {"cameras": [view.health() for view in getattr(state, "cameras", {}).values()]}


# --------------------------------------------------------------------------- routes


def require_key(request: Request) -> None:
    from facerec.server.auth import check_key

    check_key(request.app.state.facerec.config.api_key, request)


def live_of(request: Request, camera: str | None = None) -> LiveView:
    state = request.app.state.facerec
    if camera is None:
        if state.live is None:
            raise ApiError(404, "no live view: start the server with --source or --camera NAME=SOURCE "
                                "(a camera index, video file or stream URL)")
        return state.live
    view = getattr(state, "cameras", {}).get(camera)
    if view is None:
        raise ApiError(404, f"no camera named {camera!r}")
    return view


router = APIRouter(tags=["live view"], dependencies=[Depends(require_key)])


@router.get("/api/v1/live", summary="Live view: every camera's status and recent appear/leave events")
def live_status(request: Request) -> dict[str, Any]:
    first = live_of(request).to_dict()  # the first camera's fields at the top, as before several cameras
    return {**first, "cameras": [view.to_dict() for view in request.app.state.facerec.cameras.values()]}


@router.get("/live/stream.mjpg", summary="Live view: the first camera's annotated video (MJPEG)",
            response_class=StreamingResponse)
async def live_stream(request: Request) -> StreamingResponse:
    return stream_response(request, live_of(request))


@router.get("/live/{camera}/stream.mjpg", summary="Live view: a camera's annotated video (MJPEG)",
            response_class=StreamingResponse)
async def camera_stream(request: Request, camera: str) -> StreamingResponse:
    return stream_response(request, live_of(request, camera))


@router.get("/live/{camera}/snapshots/{event_id}.jpg", summary="Live view: the face crop of a named person's event")
def camera_snapshot(request: Request, camera: str, event_id: int) -> Response:
    jpeg = live_of(request, camera).snapshot(event_id)
    if jpeg is None:
        raise ApiError(404, f"no snapshot for event {event_id} (only the last {MAX_SNAPSHOTS} are kept)")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def stream_response(request: Request, live: LiveView) -> StreamingResponse:
    return StreamingResponse(mjpeg_parts(live, request.app.state.facerec.stopping),
                             media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                             headers={"Cache-Control": "no-store"})


@router.get("/live/events", summary="Live view: appeared / left / renamed events (Server-Sent Events)",
            response_class=StreamingResponse)
async def live_events(request: Request) -> StreamingResponse:
    return events_response(request, live_of(request))


@router.get("/live/{camera}/events", summary="Live view: a camera's appeared / left / renamed events (SSE)",
            response_class=StreamingResponse)
async def camera_events(request: Request, camera: str) -> StreamingResponse:
    return events_response(request, live_of(request, camera))


def events_response(request: Request, live: LiveView) -> StreamingResponse:
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
    live.subscribers += 1
    try:
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
    finally:
        live.subscribers -= 1
