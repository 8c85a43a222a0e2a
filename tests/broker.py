"""A real mosquitto broker on a free loopback port (a temp config, no persistence) and a real paho subscriber
that records every message, for the MQTT tests. Skips with a reason where mosquitto or paho-mqtt is missing."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_binary() -> str:
    for path in MOSQUITTO_PATHS:
        if Path(path).is_file():
            return path
    found = shutil.which("mosquitto")
    if not found:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(folder: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl); returns the CA file."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed: no certificates for the TLS broker")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=facerec test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    return folder / "ca.crt"


class Broker:
    def __init__(self, workdir: Path, users: dict[str, str] | None = None, tls: bool = False):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"
        self.users = users
        self.ca_file = make_certificates(workdir) if tls else None
        self.process: subprocess.Popen | None = None

    def start(self) -> "Broker":
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to the user `mosquitto`, who cannot read our temp files
        if self.ca_file is not None:
            lines += [f"cafile {self.ca_file}", f"certfile {self.workdir / 'server.crt'}",
                      f"keyfile {self.workdir / 'server.key'}"]
        if self.users:
            passwd = self.workdir / "passwd"
            for i, (user, password) in enumerate(self.users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        config = self.workdir / f"mosquitto-{self.port}.conf"
        config.write_text("\n".join(lines) + "\n")
        self.log = open(self.workdir / f"mosquitto-{self.port}.log", "wb")
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()


class Subscriber:
    """A real paho client subscribed to `topics`; `messages` is every (topic, payload, retained) received."""

    def __init__(self, port: int, *topics: str, username: str | None = None, password: str | None = None):
        mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt is not installed: pip install -e '.[mqtt]'")
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        for topic in topics:
            self._subscribed.clear()
            self.client.subscribe(topic, qos=1)
            assert self._subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def wait_for(self, predicate, timeout_s: float = 20.0) -> list[tuple[str, bytes, bool]]:
        """Every message so far, once one satisfies predicate(topic, payload) (fails after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if any(predicate(t, p) for t, p, _ in self.messages):
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"no such message within {timeout_s} s; got {self.messages}")

    def last(self, topic: str) -> bytes | None:
        with self._lock:
            payloads = [p for t, p, _ in self.messages if t == topic]
        return payloads[-1] if payloads else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
