"""MQTT publishing against a real mosquitto broker and a real paho subscriber (facerec.video.mqtt).

Fast tests feed the publisher tracker events on a real frame; the slow ones run `facerec webcam --mqtt` on a
real clip with a real gallery, and kill it with SIGKILL to see the broker deliver its last will."""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from broker import Broker, Subscriber
from facerec.cli.main import main
from facerec.errors import UsageError
from facerec.types import Face
from facerec.video.loop import FrameResult
from facerec.video.sources import Frame
from facerec.video.track import APPEARED, LEFT, RENAMED, TrackEvent

DATA = Path(__file__).resolve().parents[1] / "data"
HA_REQUIRED = {"unique_id", "state_topic", "device", "availability", "name"}  # HA's documented discovery fields


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def frame_with_face() -> FrameResult:
    bgr = cv2.imread(str(DATA / "webcam" / "obama_1.jpg"))
    return FrameResult(Frame(7, 0.7, bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), [], True, 10.0)


def event(kind: str, name: str, track: int = 1, frame: int = 7, previous: str | None = None) -> TrackEvent:
    box = (60, 40, 120, 140)
    return TrackEvent(kind, track, name, 0.93, frame, 0.7, 0.0, 0.7, box, previous,
                      Face(box, 0.99, ((0.0, 0.0),) * 5))


def make_publisher(broker, people, **kw):
    from facerec.video.mqtt import MqttPublisher, parse_broker_url

    return MqttPublisher(parse_broker_url(broker.url), people=lambda: list(people), **kw)


def wait_connected(publisher, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not publisher.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publisher.connected


# ---- parsing ------------------------------------------------------------------------------------------------


def test_broker_urls_parse_and_bad_ones_are_usage_errors(tmp_path):
    from facerec.video.mqtt import parse_broker_url

    plain = parse_broker_url("mqtt://broker.lan")
    assert (plain.host, plain.port, plain.tls, plain.username) == ("broker.lan", 1883, False, None)
    tls = parse_broker_url("mqtts://u%40x:p%3Aw@10.0.0.2:8884", env_credentials=("envuser", "envpass"))
    assert (tls.port, tls.tls, tls.username, tls.password) == (8884, True, "u@x", "p:w")
    assert parse_broker_url("mqtt://h", env_credentials=("envuser", "envpass")).username == "envuser"
    assert "p:w" not in tls.describe() and "u@x" not in tls.describe()
    for bad in ("http://h", "broker.lan", "mqtt://", "mqtt://h:99999", "mqtt://h/topic", "mqtt://h:port"):
        with pytest.raises(UsageError):
            parse_broker_url(bad)
    with pytest.raises(UsageError, match="mqtts"):
        ca = tmp_path / "ca.pem"
        ca.write_text("x")
        parse_broker_url("mqtt://h", ca_file=ca)


def test_person_slugs_are_topic_safe_distinct_and_keep_plain_names():
    from facerec.video.mqtt import person_slug

    assert person_slug("Barack_Obama") == "Barack_Obama"
    names = ["José Ñúñez", "Jose Nunez", "A+B", "A#B", "A B", "李雷", "a/b", "Ünknown-1"]
    slugs = [person_slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for slug in slugs:
        assert slug and not set(slug) & set("/+# ") and slug.isascii()
    assert person_slug("José Ñúñez").startswith("Jose_Nunez_")


def test_cli_refuses_a_bad_broker_url_and_a_camera_name_with_topic_characters(capsys):
    assert main(["webcam", "--headless", "--mqtt", "http://broker", "--source", "nothing.mp4"]) == 2
    assert "mqtt://" in capsys.readouterr().err
    for name in ("front/door", "a+b", "a#", "with space"):
        assert main(["webcam", "--headless", "--camera-name", name, "--source", "nothing.mp4"]) == 2
        assert "camera name" in capsys.readouterr().err


# ---- the publisher and a real broker --------------------------------------------------------------------


def test_events_presence_and_home_assistant_discovery(broker):
    people = ["Barack_Obama", "José Ñúñez"]
    sub = Subscriber(broker.port, "facerec/#", "homeassistant/#")
    publisher = make_publisher(broker, people)
    channel = publisher.camera("front_door")
    publisher.start()
    try:
        wait_connected(publisher)
        channel.tick()
        result = frame_with_face()
        channel.on_event(event(APPEARED, "Barack_Obama"), result, snapshot_url="http://cam/snap/1.jpg")
        channel.on_event(event(APPEARED, "unknown", track=2), result, snapshot_url=None)
        sub.wait_for(lambda t, p: t == "facerec/front_door/person/Barack_Obama")
        channel.on_event(event(LEFT, "Barack_Obama"), result)
        msgs = sub.wait_for(lambda t, p: t == "facerec/front_door/person/Barack_Obama" and b"away" in p)
    finally:
        publisher.stop()
    events = [json.loads(p) for t, p, _ in msgs if t == "facerec/front_door/event"]
    assert [(e["event"], e["name"]) for e in events[:2]] == [("appeared", "Barack_Obama"), ("appeared", "unknown")]
    first = events[0]
    assert first["camera"] == "front_door" and first["track"] == 1 and first["time"]
    assert {"score", "distance", "box", "confidence", "face_index"} <= set(first) and "embedding" not in first
    assert first["snapshot"] == "http://cam/snap/1.jpg"
    assert events[1]["snapshot"] is None and "snapshot_jpeg" not in events[1]  # no crop of a stranger unless asked
    presence = [json.loads(p) for t, p, _ in msgs if t == "facerec/front_door/person/Barack_Obama"]
    assert [p["state"] for p in presence][-2:] == ["home", "away"] and presence[-1]["name"] == "Barack_Obama"
    assert json.loads(sub.last("facerec/front_door/last_person"))["name"] == "unknown"
    # a clean stop says goodbye (the broker hands it to the subscriber a moment after stop() returns)
    sub.wait_for(lambda t, p: t == "facerec/status" and p == b"offline")
    assert sub.last("facerec/status") == b"offline"

    configs = {t: json.loads(p) for t, p, _ in msgs if t.startswith("homeassistant/") and p}
    sensor = configs["homeassistant/sensor/facerec_front_door/last_person/config"]
    slug = [t.split("/")[3] for t in configs if "Jose_Nunez" in t][0]
    person = configs[f"homeassistant/binary_sensor/facerec_front_door/{slug}/config"]
    for config in (sensor, person, configs["homeassistant/binary_sensor/facerec_front_door/Barack_Obama/config"]):
        assert HA_REQUIRED <= set(config)
        assert config["availability"] == [{"topic": "facerec/status", "payload_available": "online",
                                           "payload_not_available": "offline"}]
        assert config["device"]["identifiers"] == ["facerec_front_door"] and config["device"]["name"]
    assert person["unique_id"] == f"facerec_front_door_{slug}" and person["name"] == "José Ñúñez seen on front_door"
    assert person["state_topic"] == f"facerec/front_door/person/{slug}"
    assert person["default_entity_id"] == f"binary_sensor.facerec_front_door_{slug.lower()}"
    assert sensor["default_entity_id"] == "sensor.facerec_front_door_last_person"
    assert (person["payload_on"], person["payload_off"], person["device_class"]) == ("home", "away", "presence")
    assert sensor["state_topic"] == "facerec/front_door/last_person"
    sub.close()


def test_a_forgotten_person_loses_discovery_and_presence_also_across_restarts(broker):
    people = ["Alice", "Bob"]
    publisher = make_publisher(broker, people)
    channel = publisher.camera("door")
    publisher.start()
    wait_connected(publisher)
    channel.tick()
    channel.on_event(event(APPEARED, "Alice"), frame_with_face())
    people.remove("Alice")  # forgotten while running: removed at the next refresh
    publisher.refresh_people(force=True)
    time.sleep(0.5)
    publisher.stop()
    later = Subscriber(broker.port, "homeassistant/#", "facerec/#")  # retained messages only now
    time.sleep(1.0)
    retained = {t for t, p, r in later.messages if r and p}
    assert "homeassistant/binary_sensor/facerec_door/Bob/config" in retained
    assert not any("Alice" in t for t in retained), retained

    people.remove("Bob")  # forgotten while facerec was not running: the next start clears what it left
    again = make_publisher(broker, people)
    again.camera("door")
    again.start()
    wait_connected(again)
    later.wait_for(lambda t, p: t == "homeassistant/binary_sensor/facerec_door/Bob/config" and p == b"")
    again.stop()
    late = Subscriber(broker.port, "homeassistant/#")
    time.sleep(1.0)
    assert not any("Bob" in t for t, p, r in late.messages if p), late.messages
    later.close(), late.close()


def test_broker_down_drops_events_with_a_count_and_sends_state_again_when_it_comes(tmp_path):
    from facerec.video.mqtt import MqttPublisher, parse_broker_url

    broker = Broker(tmp_path)  # not started yet: its port is free
    publisher = MqttPublisher(parse_broker_url(broker.url), people=lambda: ["Alice"])
    channel = publisher.camera("door")
    began = time.monotonic()
    publisher.start()
    result = frame_with_face()
    channel.tick()
    channel.on_event(event(APPEARED, "Alice"), result)
    channel.on_event(event(RENAMED, "unknown", previous="Alice"), result)
    assert time.monotonic() - began < 1.0  # the video never waits for the broker
    assert publisher.dropped == 2 and not publisher.connected
    deadline = time.monotonic() + 10
    while publisher.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "cannot reach the broker" in publisher.last_error  # visible (/api/v1/live), retried
    broker.start()
    try:
        wait_connected(publisher, timeout_s=20)  # reconnects with backoff (1 s, 2 s, ...)
        sub = Subscriber(broker.port, "facerec/#", "homeassistant/#")
        sub.wait_for(lambda t, p: t == "facerec/door/person/Alice")
        assert json.loads(sub.last("facerec/door/person/Alice"))["state"] == "away"  # Alice was renamed away
        assert sub.last("facerec/status") == b"online"
        sub.wait_for(lambda t, p: t == "homeassistant/binary_sensor/facerec_door/Alice/config" and p)
        assert publisher.to_dict()["dropped"] == 2 and publisher.to_dict()["connects"] == 1
        sub.close()
    finally:
        publisher.stop()
        broker.stop()


def test_snapshots_carry_a_jpeg_crop_and_home_assistant_restart_gets_discovery_again(broker):
    publisher = make_publisher(broker, ["Alice"], snapshots=True)
    channel = publisher.camera("door")
    publisher.start()
    wait_connected(publisher)
    sub = Subscriber(broker.port, "facerec/door/event", "homeassistant/binary_sensor/#")
    channel.on_event(event(APPEARED, "unknown"), frame_with_face())
    msgs = sub.wait_for(lambda t, p: t == "facerec/door/event")
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(json.loads(msgs[-1][1])["snapshot_jpeg"]), np.uint8),
                        cv2.IMREAD_COLOR)
    assert crop is not None and crop.shape[0] >= 140 and crop.shape[1] >= 120
    channel.tick()
    sub.wait_for(lambda t, p: t.endswith("/Alice/config"))
    before = sum(1 for t, _, _ in sub.messages if t.endswith("/Alice/config"))
    sub.client.publish("homeassistant/status", "online", qos=1)  # Home Assistant's birth message
    sub.wait_for(lambda t, p: sum(1 for t2, _, _ in sub.messages if t2.endswith("/Alice/config")) > before)
    publisher.stop()
    sub.close()


def test_tls_broker_needs_its_ca_and_then_carries_the_messages(tmp_path):
    from facerec.video.mqtt import MqttPublisher, parse_broker_url

    broker = Broker(tmp_path, tls=True).start()
    try:
        untrusted = MqttPublisher(parse_broker_url(broker.url), people=lambda: [])
        untrusted.start()
        deadline = time.monotonic() + 10
        while untrusted.last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not untrusted.connected and "cannot reach the broker mqtts://" in (untrusted.last_error or "")
        untrusted.stop()
        trusted = MqttPublisher(parse_broker_url(broker.url, ca_file=broker.ca_file), people=lambda: ["Alice"])
        trusted.camera("door").tick()
        trusted.start()
        wait_connected(trusted)
        trusted.stop()
    finally:
        broker.stop()


def test_wrong_credentials_are_a_warning_and_retried_not_a_crash(tmp_path, caplog):
    from facerec.video.mqtt import MqttPublisher, parse_broker_url

    broker = Broker(tmp_path, users={"cam": "right"}).start()
    try:
        publisher = MqttPublisher(parse_broker_url(broker.url.replace("//", "//cam:wrong@")), people=lambda: [])
        publisher.camera("door")
        with caplog.at_level("WARNING"):
            publisher.start()
            deadline = time.monotonic() + 10
            while publisher.last_error is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert not publisher.connected and "refused" in (publisher.last_error or "")
        assert any("refused" in r.getMessage() for r in caplog.records)
        publisher.stop()
        good = MqttPublisher(parse_broker_url(broker.url, env_credentials=("cam", "right")), people=lambda: [])
        good.start()
        wait_connected(good)
        good.stop()
    finally:
        broker.stop()


# ---- facerec webcam --mqtt: a real clip, real models, a real gallery -------------------------------------

from test_webcam import enrolled_gallery, obama_biden_clip  # noqa: E402,F401  (fixtures: a clip and a gallery)


@pytest.mark.slow
def test_webcam_publishes_appearances_presence_and_discovery(broker, obama_biden_clip, enrolled_gallery, capsys):
    sub = Subscriber(broker.port, "facerec/#", "homeassistant/#")
    code = main(["webcam", "--source", str(obama_biden_clip), "--headless", "--gallery", str(enrolled_gallery),
                 "--backbone", "dlib", "--detect-every", "3", "--mqtt", broker.url, "--camera-name", "front_door"])
    assert code == 0, capsys.readouterr().err
    msgs = sub.wait_for(lambda t, p: t == "facerec/status" and p == b"offline")
    events = [json.loads(p) for t, p, _ in msgs if t == "facerec/front_door/event"]
    assert [(e["event"], e["name"]) for e in events] == [
        ("appeared", "Barack_Obama"), ("appeared", "Joe_Biden"), ("left", "Barack_Obama"), ("left", "Joe_Biden")]
    assert all(e["camera"] == "front_door" and "embedding" not in e for e in events)
    for person in ("Barack_Obama", "Joe_Biden"):
        states = [json.loads(p)["state"] for t, p, _ in msgs if t == f"facerec/front_door/person/{person}"]
        assert states == ["home", "away"], states
        config = json.loads(sub.last(f"homeassistant/binary_sensor/facerec_front_door/{person}/config"))
        assert config["unique_id"] == f"facerec_front_door_{person}" and HA_REQUIRED <= set(config)
    assert "MQTT: 4 events published, 0 dropped" in capsys.readouterr().err
    sub.close()


@pytest.mark.slow
def test_killed_webcam_leaves_its_last_will_offline(broker, obama_biden_clip, enrolled_gallery, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    sub = Subscriber(broker.port, "facerec/#")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    log = open(tmp_path / "webcam.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "facerec.cli.main", "webcam", "--source", str(obama_biden_clip), "--headless",
         "--realtime", "--gallery", str(enrolled_gallery), "--backbone", "dlib", "--mqtt", broker.url, "-q"],
        stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        sub.wait_for(lambda t, p: t == "facerec/default/person/Barack_Obama", timeout_s=240)
        assert process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        sub.wait_for(lambda t, p: t == "facerec/status" and p == b"offline", timeout_s=10)  # the broker's will
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert json.loads(sub.last("facerec/default/person/Barack_Obama"))["state"] == "home"  # no goodbye said
    later = Subscriber(broker.port, "facerec/status")
    later.wait_for(lambda t, p: p == b"offline")  # retained: Home Assistant starting later sees it too
    sub.close(), later.close()


HIDE_META = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
db.execute("ALTER TABLE meta RENAME TO meta_hidden")
time.sleep(float(sys.argv[2]))
db.execute("ALTER TABLE meta_hidden RENAME TO meta")
"""


@pytest.mark.slow
def test_webcam_on_a_file_ends_with_the_reason_when_another_process_breaks_the_gallery(
        obama_biden_clip, enrolled_gallery, tmp_path):
    """A real fault from another process mid-run: exit 1 and the reason, no traceback (a camera or stream
    would restart instead; replaying a file would repeat its events)."""
    import os
    import subprocess
    import sys

    gallery = tmp_path / "gallery.sqlite"
    gallery.write_bytes(enrolled_gallery.read_bytes())
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "facerec.cli.main", "webcam", "--source", str(obama_biden_clip), "--headless",
         "--realtime", "--gallery", str(gallery), "--backbone", "dlib"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:  # the first face line: the loop runs
            if '"event": "face"' in line:
                break
        subprocess.run([sys.executable, "-c", HIDE_META, str(gallery), "8"], check=True, timeout=60)
        err = process.communicate(timeout=120)[1]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err
    assert "the video loop stopped: OperationalError: no such table: meta" in err and "Traceback" not in err
