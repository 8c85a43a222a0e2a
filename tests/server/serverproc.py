"""A real `facerec serve` process on a free 127.0.0.1 port, for the server tests (one per test module)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
START_TIMEOUT_S = 180  # loading TensorFlow + MTCNN + dlib on a busy 2-core machine


def require_server_extra() -> None:
    pytest.importorskip("dlib", reason="the dlib extra is not installed")
    for module in ("fastapi", "uvicorn", "multipart", "requests"):
        pytest.importorskip(module, reason="the server extra is not installed: pip install -e '.[server,test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, workdir: Path, *args: str, api_key: str | None = None):
        self.workdir = workdir
        self.gallery = workdir / "gallery.sqlite"
        self.api_key = api_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.args = list(args)
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "facerec.cli.main", "serve", "--port", str(self.port), "--gallery", str(self.gallery),
               "--backbone", "dlib", "-v", *self.args]
        return cmd + (["--api-key", self.api_key] if self.api_key else [])

    def start(self) -> "ServerProcess":
        import requests

        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               "TF_CPP_MIN_LOG_LEVEL": "3", "FACEREC_OFFLINE": "1"}
        env.pop("FACEREC_API_KEY", None)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"facerec serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/api/v1/health", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"facerec serve did not answer within {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


def start_server(tmp_path_factory, *args: str, api_key: str | None = None):
    """Generator for a module-scoped fixture: yields the running ServerProcess, stops it afterwards."""
    require_server_extra()
    server = ServerProcess(tmp_path_factory.mktemp("server"), *args, api_key=api_key).start()
    try:
        yield server
    finally:
        server.stop()


def start_server_on(tmp_path_factory, write_gallery, *args: str):
    """Like start_server, with a gallery that `write_gallery(path)` fills before the server opens it."""
    require_server_extra()
    server = ServerProcess(tmp_path_factory.mktemp("server"), *args)
    write_gallery(server.gallery)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def call(server, method: str, path: str, **kwargs):
    import requests

    return requests.request(method, server.url + path, timeout=120, **kwargs)
