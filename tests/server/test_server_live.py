"""The live view: `facerec serve --source clip.mp4 --loop` on a short video made from tests/data photos.

Over HTTP: the MJPEG stream delivers JPEG frames and the Server-Sent Events name the person once they are
registered (the matcher follows the gallery while the video runs). In the headless browser: /live shows
the video and a named event."""
from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from browser import launch_browser
from serverproc import DATA, start_server

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

requests = pytest.importorskip("requests")

NAME = "Barack_Obama"
FPS = 10.0


def write_clip(path, photo_path, seconds: float = 2.0, size=(480, 360)):
    """Obama's photo drifting across a dark frame for `seconds`, then one second of nobody."""
    photo = cv2.imread(str(photo_path))
    scale = (size[1] - 40) / photo.shape[0]
    photo = cv2.resize(photo, (int(photo.shape[1] * scale), size[1] - 40))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    assert writer.isOpened()
    for i in range(int(seconds * FPS)):
        frame = np.full((size[1], size[0], 3), 40, dtype=np.uint8)
        x = 20 + i
        frame[20:20 + photo.shape[0], x:x + photo.shape[1]] = photo[:, : size[0] - x]
        writer.write(frame)
    for _ in range(int(FPS)):
        writer.write(np.full((size[1], size[0], 3), 40, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    clip = write_clip(tmp_path_factory.mktemp("clip") / "door.mp4", DATA / "webcam" / "obama_1.jpg")
    yield from start_server(tmp_path_factory, "--source", str(clip), "--loop")


@pytest.fixture(scope="module")
def registered(server):
    r = requests.post(server.url + "/v1/vision/face/register", data={"userid": NAME},
                      files={"image": (DATA / "core" / "obama_2.jpg").read_bytes()}, timeout=120)
    assert r.status_code == 200, r.text
    return NAME


def read_sse_until(url: str, predicate, timeout_s: float = 90.0) -> list[dict]:
    """Events from the SSE stream until one satisfies `predicate` (or the time is up)."""
    seen = []
    deadline = time.monotonic() + timeout_s
    with requests.get(url, stream=True, timeout=(10, 30)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                event = json.loads(line[len("data: "):])
                seen.append(event)
                if predicate(event):
                    return seen
            if time.monotonic() > deadline:
                break
    return seen


def test_events_name_the_registered_person(server, registered):
    named = lambda e: e["name"] == NAME and e["event"] in ("appeared", "renamed")  # noqa: E731
    events = read_sse_until(server.url + "/live/events", named)
    assert any(named(e) for e in events), events
    assert all({"id", "event", "name", "track", "box", "ts"} <= set(e) for e in events)
    status = requests.get(server.url + "/api/v1/live", timeout=30).json()
    assert status["source"].startswith("video file") and any(named(e) for e in status["events"])


def test_mjpeg_stream_delivers_jpeg_frames(server):
    with requests.get(server.url + "/live/stream.mjpg", stream=True, timeout=(10, 30)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        data = b""
        for chunk in r.iter_content(chunk_size=8192):
            data += chunk
            if data.count(b"\xff\xd9") >= 2:
                break
    start = data.index(b"\xff\xd8")
    frame = cv2.imdecode(np.frombuffer(data[start:data.index(b"\xff\xd9", start) + 2], np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape[:2] == (360, 480)


@pytest.fixture(scope="module")
def browser():
    yield from launch_browser()


def test_live_page_in_the_browser_shows_the_video_and_a_named_event(browser, server, registered):
    page = browser.new_page()
    page.set_default_timeout(90_000)
    page.goto(server.url + "/live")
    page.wait_for_selector(f"#events li[data-name='{NAME}']")  # recent events are replayed at once
    page.wait_for_function("() => document.getElementById('video').naturalWidth > 0")  # the first MJPEG frame
    assert page.locator("#video").evaluate("img => img.naturalWidth") == 480
    page.screenshot(path=str(server.workdir / "live.png"))
    page.close()
