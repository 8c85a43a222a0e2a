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
    from facerec.recognition.pipeline import FacePipeline

    return FacePipeline(config.backbone, weights=config.weights, min_face_size=config.min_face_size,
                        flip=config.flip)


def warm_up(state: ServerState) -> None:
    """Run each model once so that the first request does not pay for graph building (seconds with MTCNN)."""
    state.pipeline.detect(np.full((96, 96, 3), 128, dtype=np.uint8))
    size = state.pipeline.backbone.input_size
    state.pipeline.embed_chips(np.full((1, size, size, 3), 128, dtype=np.uint8))
    state.recognizer.matcher(state.gallery())


def create_app(config: ServerConfig, pipeline: Any = None, *, warm: bool = True) -> FastAPI:
    from facerec import __version__
    from facerec.server import api, deepstack, live, page
    from facerec.server.jobs import TagJobs

    state = ServerState(config, pipeline if pipeline is not None else load_pipeline(config))
    state.jobs = TagJobs(state)
    if config.source is not None:
        state.live = live.LiveView(state, config.source, loop=config.loop, detect_every=config.detect_every)
    if warm:
        warm_up(state)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.live is not None:
            state.live.start()
        try:
            yield
        finally:
            state.stopping.set()
            if state.live is not None:
                state.live.stop()

    app = FastAPI(title="facerec", version=__version__, description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url=None, redoc_url=None,  # their pages load a CDN
                  lifespan=lifespan)
    app.state.facerec = state
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(deepstack.router)
    app.include_router(live.router)
    page.install(app)
    # Added last = runs first: the size limit sees the request before anything reads its body.
    app.add_middleware(SameOriginMiddleware, loopback_only=is_loopback(config.host))
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    return app
