"""ServerState: what every request shares — the recognizer, gallery connections, the tag jobs, the live view."""
from __future__ import annotations

import threading
from typing import Any

from facerec.gallery.store import Gallery
from facerec.server.auth import LoginThrottle
from facerec.server.config import ServerConfig
from facerec.recognition.recognizer import Recognizer
from facerec.server.pipelines import LockedPipeline


class ServerState:
    def __init__(self, config: ServerConfig, pipeline: Any):
        self.config = config
        self.pipeline = pipeline if isinstance(pipeline, LockedPipeline) else LockedPipeline(pipeline)
        self.backbone: str = self.pipeline.embedding_id  # the gallery key of this recipe's embeddings
        # the matcher over everyone enrolled, refitted whenever the gallery changes (whoever changed it)
        self.recognizer = Recognizer(config.gallery, pipeline=self.pipeline, threshold=config.threshold)
        self._local = threading.local()
        self.stopping = threading.Event()
        self.jobs: Any = None  # facerec.server.jobs.TagJobs, set by the app factory
        self.live: Any = None  # the first camera's facerec.server.live.LiveView (--source, else the first --camera)
        self.cameras: dict[str, Any] = {}  # every camera's LiveView by name
        self.login_throttle = LoginThrottle()  # wrong keys per client at POST /api/v1/login

    def gallery(self) -> Gallery:
        """This thread's connection to the gallery (a Gallery object must stay in the thread that opened it)."""
        gallery = getattr(self._local, "gallery", None)
        if gallery is None:
            gallery = Gallery(self.config.gallery)
            self._local.gallery = gallery
        return gallery

    @property
    def threshold(self) -> float:
        """The identify threshold (1:N, a stranger compared with everyone enrolled)."""
        return self.recognizer.threshold_

    @property
    def verify_threshold(self) -> float:
        """The verify threshold (1:1: are these two faces one person?)."""
        from facerec.thresholds import threshold_for

        return self.config.threshold if self.config.threshold is not None else threshold_for(self.backbone, "verify")

