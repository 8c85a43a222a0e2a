"""create_app(): the FastAPI application, wired from the server's modules around one warm ServerState."""
from __future__ import annotations

import contextlib
import logging
from typing import Any, AsyncIterator

import numpy as np
from fastapi import FastAPI

from facerec.server.auth import BodyLimitMiddleware, SameOriginMiddleware
from facerec.server.config import ServerConfig, is_loopback
from facerec.server.errors import install_error_handlers
from facerec.server.state import ServerState

log = logging.getLogger(__name__)

API_DESCRIPTION = """facerec's own JSON API (mirrors the `facerec` commands) and a DeepStack-compatible face API.
With an API key set, send it as `X-API-Key: KEY` or `Authorization: Bearer KEY` (DeepStack routes: the `api_key`
form field)."""


def load_pipeline(config: ServerConfig) -> Any:
    from facerec.recognition.pipeline import build_pipeline

    return build_pipeline(config.backbone, weights=config.weights, min_face_size=config.min_face_size,
                          flip=config.flip, detector=config.detector)


def warm_up(state: ServerState) -> None:
    """Run each model once so that the first request does not pay for graph building (seconds with MTCNN)."""
    state.pipeline.detect(np.full((96, 96, 3), 128, dtype=np.uint8))
    size = state.pipeline.backbone.input_size
    state.pipeline.embed_chips(np.full((1, size, size, 3), 128, dtype=np.uint8))
    state.recognizer.matcher(state.gallery())


def public_url(config: ServerConfig) -> str:
    """How others reach this server (for links in MQTT events): its host, or this machine's name for 0.0.0.0."""
    import socket

    host = config.host if config.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    return f"http://{f'[{host}]' if ':' in host else host}:{config.port}"


def create_app(config: ServerConfig, pipeline: Any = None, *, warm: bool = True, mqtt: Any = None) -> FastAPI:
    """`mqtt`: a facerec.video.mqtt.MqttPublisher (not started) that the cameras publish to."""
    from facerec import __version__
    from facerec.server import api, deepstack, live, page, review_api
    from facerec.server.jobs import TagJobs
    from facerec.server import people_api

    state = ServerState(config, pipeline if pipeline is not None else load_pipeline(config))
    state.jobs = TagJobs(state)
    if mqtt is not None:
        mqtt.people_source = lambda: state.recognizer.people()
    for name, source in live.camera_list(config.source, config.cameras):
        state.cameras[name] = live.LiveView(state, source, name=name, loop=config.loop,
                                            detect_every=config.detect_every, mqtt=mqtt, base_url=public_url(config))
    state.live = next(iter(state.cameras.values()), None)
    if warm:
        warm_up(state)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if mqtt is not None:
            mqtt.start()
        for view in state.cameras.values():
            view.start()
        try:
            yield
        finally:
            state.stopping.set()
            for view in state.cameras.values():
                view.stop()
            if mqtt is not None:
                mqtt.stop()

    app = FastAPI(title="facerec", version=__version__, description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,  # their pages load a CDN
                  lifespan=lifespan)
    app.state.facerec = state
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(people_api.router)  # rename, merge, hide, cover, move, history (issue 19)
    app.include_router(review_api.router)
    app.include_router(deepstack.router)
    app.include_router(live.router)
    page.install(app)
    # Added last = runs first: the size limit sees the request before anything reads its body.
    app.add_middleware(SameOriginMiddleware, loopback_only=is_loopback(config.host))
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    return app
