"""Publish what a camera sees to an MQTT broker, with Home Assistant discovery.

Topics (prefix `facerec`, discovery prefix `homeassistant` by default; <slug> is `person_slug(name)`):

    <prefix>/status                          online / offline (retained; birth and last will)
    <prefix>/<camera>/event                  one JSON message per appeared / left / renamed (not retained)
    <prefix>/<camera>/last_person            the last person seen, JSON (retained)
    <prefix>/<camera>/person/<slug>          {"name", "state": "home"|"away", "last_seen"} (retained)
    <discovery>/sensor/facerec_<camera>/last_person/config      "last person seen" sensor (retained)
    <discovery>/binary_sensor/facerec_<camera>/<slug>/config    "<name> seen on <camera>" per enrolled person

A person forgotten from the gallery loses their discovery config and presence (empty retained messages), also
when they were forgotten while facerec was not running (the configs it finds on the broker are compared with
the gallery). A broker that is down never slows the video: paho's network thread connects and reconnects
with backoff (1 s doubling to 60 s); events while disconnected are dropped and counted; retained state is
kept and sent again on every (re)connect; Home Assistant coming online (`<discovery>/status`) gets the
discovery configs again.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import ssl
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from facerec.errors import MissingExtraError, UsageError
from facerec.types import UNKNOWN

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "facerec"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
HOME, AWAY = "home", "away"
ONLINE, OFFLINE = "online", "offline"
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60
MAX_QUEUED = 100  # QoS 1 messages paho may hold while a connection drops (then they are dropped)
PEOPLE_REFRESH_S = 5.0  # how often the enrolled people are read again (discovery of new / forgotten people)
CAMERA_NAME = re.compile(r"[A-Za-z0-9_-]+")
SNAPSHOT_MARGIN = 0.25


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    def describe(self) -> str:
        """The broker without credentials (for logs)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str, *, ca_file: Path | None = None,
                     env_credentials: tuple[str | None, str | None] = (None, None)) -> BrokerConfig:
    """`mqtt://[user:pass@]host[:port]` or `mqtts://...` (TLS); credentials from the URL win over the environment."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts"):
        raise UsageError(f"--mqtt {_redacted(url)}: the broker URL must start with mqtt:// or mqtts://")
    try:
        port = parts.port
    except ValueError as e:
        raise UsageError(f"--mqtt {_redacted(url)}: bad port ({e})") from None
    if not parts.hostname:
        raise UsageError(f"--mqtt {_redacted(url)}: no broker host (mqtt://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"--mqtt {_redacted(url)}: a broker URL has no path or query (use --mqtt-prefix for topics)")
    if ca_file is not None and not Path(ca_file).is_file():
        raise UsageError(f"--mqtt-ca {ca_file}: not a file")
    if ca_file is not None and parts.scheme != "mqtts":
        raise UsageError("--mqtt-ca needs an mqtts:// broker URL")
    tls = parts.scheme == "mqtts"
    username = unquote(parts.username) if parts.username else env_credentials[0]
    password = unquote(parts.password) if parts.password is not None else env_credentials[1]
    return BrokerConfig(parts.hostname, port or (8883 if tls else 1883), tls, username, password,
                        Path(ca_file) if ca_file else None)


def _redacted(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def check_camera_name(name: str) -> str:
    """Camera names become MQTT topic levels and URL parts: letters, digits, _ and - only."""
    if not CAMERA_NAME.fullmatch(name or ""):
        raise UsageError(f"camera name {name!r}: use letters, digits, _ and - only (no /, +, # or spaces)")
    return name


def person_slug(name: str) -> str:
    """A topic level and Home Assistant object id for a person's name: the name itself when it is made of
    [A-Za-z0-9_-] only, else its ASCII letters plus a short hash of the exact name (so `José` and `Jose`, or
    `A+B` and `A B`, never share a slug). Never holds /, +, # or spaces."""
    if CAMERA_NAME.fullmatch(name):
        return name
    ascii_part = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_part = re.sub(r"[^A-Za-z0-9]+", "_", ascii_part).strip("_") or "person"
    return f"{ascii_part}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def entity_id_fields(domain: str, object_id: str) -> dict[str, str]:
    """The entity id Home Assistant should give: `default_entity_id` (2025.10 on) and the older `object_id`."""
    object_id = re.sub(r"[^a-z0-9_]", "_", object_id.lower())
    return {"object_id": object_id, "default_entity_id": f"{domain}.{object_id}"}


def require_paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError as e:
        raise MissingExtraError(f"--mqtt needs paho-mqtt: pip install 'facerec[mqtt]' ({e})") from e
    return mqtt


class MqttPublisher:
    """One broker connection for every camera of the process; `camera(name)` gives each camera its channel."""

    def __init__(self, broker: BrokerConfig, *, prefix: str = DEFAULT_PREFIX,
                 discovery_prefix: str | None = DEFAULT_DISCOVERY_PREFIX, snapshots: bool = False,
                 people: Callable[[], list[str]] | None = None, client_id: str | None = None):
        for label, value in (("--mqtt-prefix", prefix), ("--mqtt-discovery-prefix", discovery_prefix or "x")):
            if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
                raise UsageError(f"{label} {value!r}: a topic prefix without +, # or a leading/trailing /")
        self.mqtt = require_paho()
        self.broker = broker
        self.prefix = prefix
        self.discovery_prefix = discovery_prefix
        self.snapshots = snapshots
        self.people_source = people
        self.status_topic = f"{prefix}/status"
        self.dropped = 0  # events not sent because the broker was not connected
        self.published = 0
        self.connects = 0
        self._session_up = False
        self.last_error: str | None = None
        self._errors_logged: set[str] = set()
        self._lock = threading.Lock()
        self._retained: dict[str, str] = {}  # topic -> payload: what is sent again on every (re)connect
        self._cameras: dict[str, CameraChannel] = {}
        self._people: list[str] = []
        self._people_read = 0.0
        self._people_lock = threading.Lock()
        self.client = self._make_client(client_id)

    # ---- connection
    def _make_client(self, client_id: str | None) -> Any:
        mqtt = self.mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", protocol=mqtt.MQTTv311)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=str(self.broker.ca_file) if self.broker.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> "MqttPublisher":
        """Connect in the background: returns at once, even when the broker is down."""
        try:
            self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        except (OSError, ValueError) as e:
            self._warn(f"cannot connect to {self.broker.describe()}: {e}")
        self.client.loop_start()
        return self

    def stop(self) -> None:
        """A clean goodbye: `offline` (retained), then disconnect."""
        try:
            if self.connected:
                self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True).wait_for_publish(2.0)
            self.client.disconnect()
        except (RuntimeError, ValueError, OSError) as e:
            log.debug("mqtt: stop: %s", e)
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self.client.is_connected()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._session_up = False
            self._warn(f"broker {self.broker.describe()} refused the connection: {reason_code} (retrying)")
            return
        self.connects += 1
        self._session_up = True
        self.last_error = None
        log.info("mqtt: connected to %s", self.broker.describe())
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        if self.discovery_prefix:
            client.subscribe(f"{self.discovery_prefix}/status", qos=1)  # Home Assistant's birth message
            for name in self._cameras:  # our configs left on the broker: forgotten people are removed
                client.subscribe(f"{self.discovery_prefix}/binary_sensor/facerec_{name}/+/config", qos=1)
            self._publish_discovery()
        with self._lock:
            retained = list(self._retained.items())
        for topic, payload in retained:
            client.publish(topic, payload, qos=1, retain=True)

    def _on_connect_fail(self, client, userdata) -> None:
        self._warn(f"cannot reach the broker {self.broker.describe()} (retrying)")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure and self._session_up:  # (after a refusal, the refusal is the news)
            self._warn(f"lost the broker {self.broker.describe()}: {reason_code} (reconnecting)")
        self._session_up = False

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{self.discovery_prefix}/status":
            if message.payload.decode(errors="replace") == ONLINE:
                self._publish_discovery()  # Home Assistant restarted: it needs the configs again
            return
        if message.payload:
            self._remove_stale_config(message.topic)

    def _warn(self, text: str) -> None:
        self.last_error = text
        kind = text.split(" mqtt")[0]  # "cannot reach the broker", "lost the broker", ...
        if kind not in self._errors_logged:  # a broker down for hours: one warning, not one per retry
            self._errors_logged.add(kind)
            log.warning("mqtt: %s", text)
        else:
            log.debug("mqtt: %s", text)

    # ---- publishing
    def publish_event(self, topic: str, payload: dict[str, Any]) -> bool:
        """An event: sent now or dropped (counted) when the broker is not connected."""
        if not self.connected:
            self.dropped += 1
            return False
        info = self.client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1)
        if info.rc != self.mqtt.MQTT_ERR_SUCCESS:
            self.dropped += 1
            return False
        self.published += 1
        return True

    def publish_retained(self, topic: str, payload: dict[str, Any] | str | None) -> None:
        """State: remembered and sent again on reconnect; None clears the topic (an empty retained message)."""
        text = "" if payload is None else payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        with self._lock:
            if payload is None:
                self._retained.pop(topic, None)
            else:
                self._retained[topic] = text
        if self.connected:
            self.client.publish(topic, text, qos=1, retain=True)

    # ---- cameras and people
    def camera(self, name: str) -> "CameraChannel":
        check_camera_name(name)
        channel = CameraChannel(self, name)
        self._cameras[name] = channel
        if self.connected and self.discovery_prefix:
            self.client.subscribe(f"{self.discovery_prefix}/binary_sensor/facerec_{name}/+/config", qos=1)
            self._publish_discovery()
        return channel

    def refresh_people(self, force: bool = False) -> None:
        """Read the enrolled people again (every PEOPLE_REFRESH_S): new people get a binary_sensor, forgotten
        ones lose theirs and their presence. Called from the camera loops (a gallery error is theirs)."""
        if self.people_source is None or (not force and time.monotonic() - self._people_read < PEOPLE_REFRESH_S):
            return
        if not self._people_lock.acquire(blocking=False):
            return  # another camera is reading them now
        try:
            self._people_read = time.monotonic()
            self._update_people(sorted(self.people_source()))
        finally:
            self._people_lock.release()

    def _update_people(self, people: list[str]) -> None:
        if people == self._people:
            return
        gone = set(self._people) - set(people)
        self._people = people
        for name in gone:
            for channel in self._cameras.values():
                channel.forget(name)
        if self.connected:
            self._publish_discovery()

    @property
    def people(self) -> list[str]:
        return list(self._people)

    def _publish_discovery(self) -> None:
        if not self.discovery_prefix:
            return
        for channel in list(self._cameras.values()):
            self.client.publish(*channel.sensor_config(), qos=1, retain=True)
            for name in self._people:
                self.client.publish(*channel.person_config(name), qos=1, retain=True)

    def _remove_stale_config(self, topic: str) -> None:
        """A retained binary_sensor config of ours for someone no longer enrolled: clear it."""
        parts = topic.split("/")
        if len(parts) < 4:
            return
        camera = parts[-3][len("facerec_"):]
        enrolled = {person_slug(n) for n in self._people}
        channel = self._cameras.get(camera)
        if channel is not None and parts[-2] not in enrolled:
            self.client.publish(topic, "", qos=1, retain=True)
            self.client.publish(channel.presence_topic_of_slug(parts[-2]), "", qos=1, retain=True)

    def to_dict(self) -> dict[str, Any]:
        return {"broker": self.broker.describe(), "connected": self.connected, "published": self.published,
                "dropped": self.dropped, "connects": self.connects, "error": self.last_error}


class CameraChannel:
    """What one camera publishes: its events, the last person seen, per-person presence, its discovery."""

    def __init__(self, publisher: MqttPublisher, camera: str):
        self.publisher = publisher
        self.camera = camera
        self.base = f"{publisher.prefix}/{camera}"
        self._present: dict[str, set[int]] = {}  # name -> tracks showing them now

    # ---- topics and discovery configs
    def presence_topic(self, name: str) -> str:
        return self.presence_topic_of_slug(person_slug(name))

    def presence_topic_of_slug(self, slug: str) -> str:
        return f"{self.base}/person/{slug}"

    def device(self) -> dict[str, Any]:
        from facerec import __version__

        return {"identifiers": [f"facerec_{self.camera}"], "name": f"facerec {self.camera}",
                "manufacturer": "facerec", "model": "face recognition camera", "sw_version": __version__}

    def availability(self) -> list[dict[str, str]]:
        return [{"topic": self.publisher.status_topic, "payload_available": ONLINE,
                 "payload_not_available": OFFLINE}]

    def sensor_config(self) -> tuple[str, str]:
        topic = f"{self.publisher.discovery_prefix}/sensor/facerec_{self.camera}/last_person/config"
        state = f"{self.base}/last_person"
        return topic, json.dumps({
            "name": "Last person seen", "unique_id": f"facerec_{self.camera}",
            **entity_id_fields("sensor", f"facerec_{self.camera}_last_person"),
            "state_topic": state, "value_template": "{{ value_json.name }}", "json_attributes_topic": state,
            "icon": "mdi:face-recognition", "availability": self.availability(), "device": self.device()})

    def person_config(self, name: str) -> tuple[str, str]:
        slug = person_slug(name)
        topic = f"{self.publisher.discovery_prefix}/binary_sensor/facerec_{self.camera}/{slug}/config"
        state = self.presence_topic(name)
        return topic, json.dumps({
            "name": f"{name} seen on {self.camera}", "unique_id": f"facerec_{self.camera}_{slug}",
            **entity_id_fields("binary_sensor", f"facerec_{self.camera}_{slug}"), "state_topic": state,
            "value_template": "{{ value_json.state }}", "payload_on": HOME, "payload_off": AWAY,
            "device_class": "presence", "json_attributes_topic": state, "availability": self.availability(),
            "device": self.device()}, ensure_ascii=False)

    # ---- events
    def on_event(self, event: Any, result: Any, snapshot_url: str | None = None) -> None:
        """A tracker event (facerec.video.track.TrackEvent) on the frame `result`: publish it and the state.
        `snapshot_url`: where the server keeps the event's face crop (sent unless --mqtt-snapshots sends the crop)."""
        from facerec.video.outputs import wall_clock
        from facerec.video.track import APPEARED, LEFT, RENAMED

        now = wall_clock()
        payload = {"camera": self.camera, **event.to_dict(), "time": now, "snapshot": None}
        if event.kind in (APPEARED, RENAMED) and (event.name != UNKNOWN or self.publisher.snapshots):
            if self.publisher.snapshots:
                payload["snapshot_jpeg"] = self.crop_base64(event, result)
            else:
                payload["snapshot"] = snapshot_url
        self.publisher.publish_event(f"{self.base}/event", payload)
        if event.kind == APPEARED:
            self._arrive(event.name, event.track_id, event.score, now)
        elif event.kind == RENAMED:
            self._depart(event.previous_name, event.track_id, now)
            self._arrive(event.name, event.track_id, event.score, now)
        elif event.kind == LEFT:
            self._depart(event.name, event.track_id, now)

    def crop_base64(self, event: Any, result: Any) -> str | None:
        if event.frame != result.frame.index:
            return None  # decided on another frame: the face may not be in this one
        from facerec.vision.align import face_crop

        crop = face_crop(result.rgb, event.box, margin=SNAPSHOT_MARGIN)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR),
                               [int(cv2.IMWRITE_JPEG_QUALITY), 85])
        return base64.b64encode(buf.tobytes()).decode() if ok else None

    def _arrive(self, name: str, track_id: int, score: float | None, now: str) -> None:
        self.publisher.publish_retained(f"{self.base}/last_person", {"name": name, "time": now, "score": score})
        if name == UNKNOWN:
            return
        self._present.setdefault(name, set()).add(track_id)
        self.publisher.publish_retained(self.presence_topic(name), {"name": name, "state": HOME, "last_seen": now})

    def _depart(self, name: str | None, track_id: int, now: str) -> None:
        if not name or name == UNKNOWN:
            return
        tracks = self._present.get(name, set())
        tracks.discard(track_id)
        if not tracks:
            self._present.pop(name, None)
            self.publisher.publish_retained(self.presence_topic(name), {"name": name, "state": AWAY, "last_seen": now})

    def forget(self, name: str) -> None:
        """The person was forgotten: their binary_sensor and presence go (empty retained messages)."""
        self._present.pop(name, None)
        self.publisher.publish_retained(self.presence_topic(name), None)
        if self.publisher.connected and self.publisher.discovery_prefix:  # else: removed at the next connect
            self.publisher.client.publish(self.person_config(name)[0], "", qos=1, retain=True)
        last = self.publisher._retained.get(f"{self.base}/last_person")
        if last and json.loads(last).get("name") == name:
            self.publisher.publish_retained(f"{self.base}/last_person", {"name": None, "time": None, "score": None})

    def all_away(self) -> None:
        """The camera's tracker was lost (its loop restarts): everyone it showed present is away."""
        from facerec.video.outputs import wall_clock

        for name in list(self._present):
            self._present[name].clear()
            self._depart(name, -1, wall_clock())

    def tick(self) -> None:
        """Called by the camera loop on every frame: keeps the people (and discovery) current."""
        self.publisher.refresh_people()
