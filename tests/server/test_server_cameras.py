"""Several cameras in one `facerec serve`, cameras that idle while nobody listens, camera loops that survive a
real gallery fault caused by another process, and MQTT from the server against a real mosquitto broker."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from broker import Broker, Subscriber
from browser import launch_browser
from serverproc import DATA, start_server
from test_server_live import NAME, write_clip

pytestmark = pytest.mark.slow  # model tests: real networks on real photos (see tests/conftest.py)

requests = pytest.importorskip("requests")


class EventStream:
    """A real SSE client in a thread: every event of `url` goes into `events` until close()."""

    def __init__(self, url: str):
        self.events: list[dict] = []
        self._response = requests.get(url, stream=True, timeout=(10, 120))
        assert self._response.status_code == 200
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    self.events.append(json.loads(line[len("data: "):]))
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed

    def wait_for(self, predicate, timeout_s: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [e for e in self.events if predicate(e)]
            if found:
                return found[-1]
            time.sleep(0.2)
        raise AssertionError(f"no such event within {timeout_s} s: {self.events[-5:]}")

    def close(self) -> None:
        self._response.close()


def register(server) -> None:
    r = requests.post(server.url + "/v1/vision/face/register", data={"userid": NAME},
                      files={"image": (DATA / "core" / "obama_2.jpg").read_bytes()}, timeout=120)
    assert r.status_code == 200, r.text


def cameras(server) -> dict[str, dict]:
    return {c["name"]: c for c in requests.get(server.url + "/api/v1/live", timeout=30).json()["cameras"]}


def wait_until(condition, timeout_s: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "door.mp4", DATA / "webcam" / "obama_1.jpg")


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory, clip):
    for server in start_server(tmp_path_factory, "--source", str(clip), "--camera", f"garden={clip}", "--loop"):
        register(server)
        yield server


def test_every_camera_is_listed_and_idles_while_nobody_listens(two_cameras):
    wait_until(lambda: all(c["idle"] for c in cameras(two_cameras).values()), what="both cameras idle")
    before = cameras(two_cameras)
    assert list(before) == ["default", "garden"] and before["garden"]["status"].startswith("idle")
    time.sleep(2.0)
    assert {n: c["processed_frames"] for n, c in cameras(two_cameras).items()} == \
        {n: c["processed_frames"] for n, c in before.items()}  # no model ran for either camera

    stream = EventStream(two_cameras.url + "/live/garden/events")  # someone listens to the garden only
    try:
        event = stream.wait_for(lambda e: e["name"] == NAME and e["event"] in ("appeared", "renamed"))
        assert event["camera"] == "garden"
        now = cameras(two_cameras)
        assert not now["garden"]["idle"] and now["garden"]["processed_frames"] > before["garden"]["processed_frames"]
        assert now["default"]["idle"] and now["default"]["processed_frames"] == before["default"]["processed_frames"]
    finally:
        stream.close()
    health = requests.get(two_cameras.url + "/api/v1/health", timeout=30).json()
    assert [c["name"] for c in health["cameras"]] == ["default", "garden"] and all(c["running"] for c in health["cameras"])


def test_each_camera_has_its_own_mjpeg_stream(two_cameras):
    with requests.get(two_cameras.url + "/live/garden/stream.mjpg", stream=True, timeout=(10, 60)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
        data = b""
        for chunk in r.iter_content(chunk_size=8192):
            data += chunk
            if data.count(b"\xff\xd9") >= 2:
                break
    start = data.index(b"\xff\xd8")
    frame = cv2.imdecode(np.frombuffer(data[start:data.index(b"\xff\xd9", start) + 2], np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape[:2] == (360, 480)
    assert requests.get(two_cameras.url + "/live/porch/stream.mjpg", timeout=30).status_code == 404


def test_live_page_shows_the_camera_asked_for(two_cameras):
    for browser in launch_browser():
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(two_cameras.url + "/live?camera=garden")
        page.wait_for_selector(f"#events li[data-name='{NAME}']")
        page.wait_for_function("() => document.getElementById('video').naturalWidth > 0")
        assert page.locator("#video").get_attribute("src") == "/live/garden/stream.mjpg"
        assert page.locator("#status").inner_text().startswith("garden:")
        page.close()


HIDE_META = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("ALTER TABLE meta RENAME TO meta_hidden")
print("hidden", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ALTER TABLE meta_hidden RENAME TO meta")
print("back", flush=True)
"""


def test_a_camera_loop_survives_a_gallery_another_process_broke_for_a_while(two_cameras):
    """Another process (a real SQLite connection) hides the table the recognizer reads for 6 s: the camera
    loop fails, is counted and restarted with backoff, and names people again once the gallery is back."""
    stream = EventStream(two_cameras.url + "/live/events")  # keeps the default camera busy
    try:
        stream.wait_for(lambda e: e["name"] == NAME)
        fault = subprocess.run([sys.executable, "-c", HIDE_META, str(two_cameras.gallery), "6"],
                               capture_output=True, text=True, timeout=60)
        assert fault.stdout.split() == ["hidden", "back"], fault.stderr
        failed = cameras(two_cameras)["default"]
        assert failed["errors"].get("OperationalError", 0) >= 1 and failed["restarts"] >= 1, failed
        assert "meta" in failed["last_error"]
        last_id = max(e["id"] for e in stream.events)
        stream.wait_for(lambda e: e["id"] > last_id and e["name"] == NAME and e["event"] == "appeared")
        wait_until(lambda: cameras(two_cameras)["default"]["status"].startswith("running"), what="running again")
    finally:
        stream.close()
    health = requests.get(two_cameras.url + "/api/v1/health", timeout=30).json()
    default = health["cameras"][0]
    assert default["running"] and default["errors"]["OperationalError"] >= 1 and "last_error" not in default
    assert two_cameras.log().count("live view default failed (OperationalError)") == 1  # logged once per kind
    with sqlite3.connect(two_cameras.gallery) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---- MQTT from the server -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def mqtt_server(tmp_path_factory, clip, broker):
    yield from start_server(tmp_path_factory, "--camera", f"door={clip}", "--loop", "--mqtt", broker.url)


def test_server_publishes_events_with_snapshot_links_and_discovery_follows_the_gallery(mqtt_server, broker):
    sub = Subscriber(broker.port, "facerec/#", "homeassistant/#")
    sub.wait_for(lambda t, p: t == "facerec/status" and p == b"online")
    assert cameras(mqtt_server)["door"]["idle"] is False  # MQTT listens
    register(mqtt_server)
    config_topic = f"homeassistant/binary_sensor/facerec_door/{NAME}/config"
    sub.wait_for(lambda t, p: t == config_topic and p, timeout_s=60)
    sub.wait_for(lambda t, p: t == "facerec/door/event" and json.loads(p)["name"] == NAME, timeout_s=120)
    event = [json.loads(p) for t, p, _ in sub.messages if t == "facerec/door/event" and json.loads(p)["name"] == NAME][0]
    assert event["camera"] == "door" and event["event"] in ("appeared", "renamed")
    snap = requests.get(event["snapshot"], timeout=30)
    assert event["snapshot"].startswith(mqtt_server.url + "/live/door/snapshots/")
    assert snap.status_code == 200 and cv2.imdecode(np.frombuffer(snap.content, np.uint8), cv2.IMREAD_COLOR) is not None
    assert json.loads(sub.last(f"facerec/door/person/{NAME}"))["state"] in ("home", "away")
    live = requests.get(mqtt_server.url + "/api/v1/live", timeout=30).json()
    assert live["mqtt"]["connected"] and live["mqtt"]["published"] >= 1

    assert requests.delete(mqtt_server.url + f"/api/v1/people/{NAME}", timeout=60).status_code == 200
    sub.wait_for(lambda t, p: t == config_topic and p == b"", timeout_s=60)  # forgotten: the entity goes
    sub.wait_for(lambda t, p: t == f"facerec/door/person/{NAME}" and p == b"", timeout_s=30)
    sub.close()
