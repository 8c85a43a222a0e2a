"""facerec serve — a face recognition server: DeepStack's face API, our JSON API, a review page, a live view."""
from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

from facerec import errors
from facerec.cli.commands._util import COUNT, DISTANCE, PIXELS, number_in
from facerec.cli.commands._mqtt import add_mqtt_options, publisher_from_args
from facerec.paths import api_key_from_env

DESCRIPTION = """Run one server process with the gallery and a warm recognizer loaded once:

  http://HOST:PORT/                    review page: people enrolled, groups of unknown faces to name / merge / drop
  http://HOST:PORT/live                live view of --source (MJPEG + appear/leave events), no window needed;
                                       each --camera NAME=SRC at /live?camera=NAME (/live/NAME/stream.mjpg, .../events)
  http://HOST:PORT/v1/vision/face/...  DeepStack-compatible face API (Home Assistant deepstack_face, Double Take, ...)
  http://HOST:PORT/api/v1/...          facerec's JSON API; OpenAPI description at /api/v1/openapi.json

It listens on 127.0.0.1 (this machine only) unless --host says otherwise, and refuses any other address
without an API key (--api-key or FACEREC_API_KEY). Clients send the key as DeepStack's `api_key` form field,
an `X-API-Key` header or `Authorization: Bearer KEY`; the review page asks for it once.

A camera nobody watches (no viewer, no event stream, no --mqtt) only decodes frames; a camera loop that
fails (e.g. the gallery briefly locked) restarts after a backoff, shown in /api/v1/live and /api/v1/health.
--mqtt URL publishes every camera's events, presence and Home Assistant discovery (see `facerec webcam --help`).

Requests over --max-upload-mb get 413; images that are not images 400; a missing or wrong key 401 / 403.
Tagging a folder through the API is allowed only inside an --album-root folder.

examples:
  facerec serve                                        # http://127.0.0.1:5000/
  facerec serve --source 0                             # plus the camera at /live
  facerec serve --host 0.0.0.0 --port 5000 --api-key "$(openssl rand -hex 16)" --source rtsp://cam/stream
  facerec serve --album-root ~/Pictures                # allow POST /api/v1/tag for folders under ~/Pictures
  facerec serve --camera door=rtsp://cam1/s --camera garden=rtsp://cam2/s --mqtt mqtt://homeassistant.lan
                                                       # two cameras, events and HA entities over MQTT

Needs the server extra: pip install 'facerec[server]'.
exit code: 130 after Ctrl-C (SIGTERM ends it as that signal); 2 bad options (e.g. a public address without a key, a port in use);
4 the server extra is missing."""


class ServeUsageError(errors.FacerecError):
    exit_code = errors.EXIT_USAGE


def register(sub, common) -> None:
    from facerec.server.config import DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT

    p = sub.add_parser("serve", parents=common, help="HTTP server: DeepStack face API, JSON API, review page, live view",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port (default: %(default)s, DeepStack's)")
    p.add_argument("--api-key", default=api_key_from_env(), metavar="KEY",
                   help="require this key from every client (default: FACEREC_API_KEY); needed off loopback")
    p.add_argument("--max-upload-mb", type=MEGABYTES, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                   help="largest request body accepted (default: %(default)g)")
    p.add_argument("--album-root", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder whose sub-folders clients may ask the server to tag (repeatable)")
    p.add_argument("--source", metavar="SRC",
                   help="live view: camera index, video file or stream URL (the camera named `default`)")
    p.add_argument("--camera", type=_camera, action="append", default=[], metavar="NAME=SRC",
                   help="another camera (repeatable): NAME of letters, digits, _ and -, then its source; "
                        "at /live/NAME/stream.mjpg and /live/NAME/events")
    p.add_argument("--loop", action="store_true", help="live view: play a video file again when it ends")
    p.add_argument("--detect-every", type=COUNT, default=3, metavar="K",
                   help="live view: run the detector every K frames (default: %(default)s)")
    p.add_argument("--threshold", type=DISTANCE, metavar="D",
                   help="cosine distance above which a face is unknown (default: per backbone)")
    p.add_argument("--min-face-size", type=PIXELS, default=20, metavar="PX",
                   help="smallest face to detect, in pixels (default: %(default)s)")
    add_mqtt_options(p)
    p.set_defaults(func=run)


def _camera(text: str) -> tuple[str, str]:
    from facerec.video.mqtt import check_camera_name

    name, sep, source = text.partition("=")
    if not sep or not source:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=SOURCE, e.g. door=rtsp://cam/stream")
    try:
        return check_camera_name(name), source
    except errors.UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {value}")
    return value


MEGABYTES = number_in(float, 0.0, 1_000_000.0, low_open=True)  # finite: inf/nan would lift the upload limit


def check_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401  (python-multipart: form uploads)
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise errors.MissingExtraError(f"`facerec serve` needs the server extra: pip install 'facerec[server]' ({e})") from e


def check_port_free(host: str, port: int) -> None:
    """Fail before loading any model when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ServeUsageError(f"port {port} on {host} is already in use (choose another with --port)") from e
            raise ServeUsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def run(args) -> int:
    from facerec.server.config import ServerConfig, is_loopback

    if not is_loopback(args.host) and not args.api_key:
        raise ServeUsageError(f"refusing to listen on {args.host} without an API key: anyone who can reach it could "
                              "read and change the gallery. Set --api-key KEY (or FACEREC_API_KEY), or keep the "
                              "default --host 127.0.0.1")
    for root in args.album_root:
        if not root.is_dir():
            raise ServeUsageError(f"--album-root {root}: not a folder")
    from facerec.server.live import camera_list

    camera_list(args.source, tuple(args.camera))  # names used twice: exit 2 before loading anything
    mqtt = publisher_from_args(args, people=None)  # a bad broker URL: exit 2 before loading anything
    check_server_extra()
    check_port_free(args.host, args.port)
    config = ServerConfig(
        gallery=Path(args.gallery).expanduser().resolve(), backbone=args.backbone, weights=args.weights, flip=args.flip,
        detector=args.detector,
        host=args.host, port=args.port, api_key=args.api_key, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        album_roots=tuple(r.resolve() for r in args.album_root), threshold=args.threshold,
        min_face_size=args.min_face_size, source=args.source, loop=args.loop, detect_every=args.detect_every,
        cameras=tuple(args.camera))
    return serve(config, args, mqtt)


def serve(config, args, mqtt=None) -> int:
    import uvicorn

    from facerec.server.app import create_app

    say(args, f"facerec serve: loading the {config.backbone} recognizer and the gallery {config.gallery} ...")
    app = create_app(config, mqtt=mqtt)
    shown_host = f"[{config.host}]" if ":" in config.host else config.host
    say(args, f"facerec serve: http://{shown_host}:{config.port}/ (review page), /live, /v1/vision/face/*, "
              f"/api/v1 (OpenAPI: /api/v1/openapi.json); {'API key required' if config.api_key else 'no API key'}; "
              "Ctrl-C to stop")
    log_level = "warning" if args.quiet else ("info" if args.verbose else "warning")
    server = StoppableServer(uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level,
                                            access_log=bool(args.verbose), timeout_graceful_shutdown=3),
                             app.state.facerec.stopping)
    server.run()
    return errors.EXIT_OK


def stoppable_server_class():
    import uvicorn

    class StoppableServer(uvicorn.Server):
        """uvicorn waits for open connections before it stops; the MJPEG and event streams never end by
        themselves, so Ctrl-C / SIGTERM first tells them to finish."""

        def __init__(self, config, stopping):
            super().__init__(config)
            self.stopping = stopping

        def handle_exit(self, sig, frame) -> None:
            self.stopping.set()
            super().handle_exit(sig, frame)

    return StoppableServer


def StoppableServer(config, stopping):  # noqa: N802 - reads like the class it builds (uvicorn imported lazily)
    return stoppable_server_class()(config, stopping)


def say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)
