"""Background `tag` jobs: tag a folder on the server (one job at a time), with progress a client can poll.

A client names a folder; it must lie inside one of the folders `facerec serve --album-root DIR` allows
(resolved, so `..` and symlinks cannot step outside), since tagging reads every photo in it and the
review page then shows crops of the faces found.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facerec.gallery.store import Gallery
from facerec.server.errors import ApiError
from facerec.server.pipelines import CountingPipeline

log = logging.getLogger(__name__)

QUEUED, RUNNING, RETRYING, DONE, FAILED = "queued", "running", "retrying", "done", "failed"


@dataclass
class TagJob:
    id: int
    album: str
    force: bool
    state: str = QUEUED
    photos: int = 0  # image files found in the album
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None  # why it failed, or (while retrying) the error it waits out
    retries: int = 0  # times it started again after a locked or briefly unreadable gallery
    counter: CountingPipeline | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "album": self.album, "state": self.state, "photos": self.photos,
                "analysed": self.counter.detected if self.counter else 0, "created": self.created,
                "started": self.started, "finished": self.finished, "summary": self.summary, "error": self.error,
                "retries": self.retries}


class TagJobs:
    def __init__(self, state: Any):
        self.state = state
        self._jobs: dict[int, TagJob] = {}
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()
        self._next_id = 1

    def resolve_album(self, text: str) -> Path:
        roots = [Path(r).resolve() for r in self.state.config.album_roots]
        if not roots:
            raise ApiError(403, "tagging a folder needs the server to be started with --album-root DIR")
        album = Path(text).expanduser()
        if not album.is_absolute():
            album = roots[0] / album
        album = album.resolve()
        if not any(album == root or album.is_relative_to(root) for root in roots):
            raise ApiError(403, f"{text!r} is outside the folders this server may tag (--album-root)")
        if not album.is_dir():
            raise ApiError(404, f"{text!r}: no such folder")
        return album

    def submit(self, album_text: str, force: bool = False) -> TagJob:
        album = self.resolve_album(album_text)
        with self._lock:
            job = TagJob(self._next_id, str(album), force)
            self._jobs[job.id] = job
            self._next_id += 1
        threading.Thread(target=self._run, args=(job,), name=f"facerec-tag-job-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: int) -> TagJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no tag job {job_id}")
        return job

    def all(self) -> list[TagJob]:
        return sorted(self._jobs.values(), key=lambda j: j.id)

    def problems(self) -> list[str]:
        """What /api/v1/health reports: jobs waiting out a gallery error, and jobs that failed."""
        return [f"tag job {j.id} {j.state}: {j.error}" for j in self.all() if j.state in (RETRYING, FAILED)]

    def _run(self, job: TagJob) -> None:
        from facerec.album.photos import walk_album
        from facerec.gallery.retry import retry_transient

        def retrying(attempt: int, error: BaseException, delay: float) -> None:
            job.state, job.error, job.retries = RETRYING, f"{error} (trying again in {delay:.0f} s)", attempt

        with self._one_at_a_time:
            job.state, job.started = RUNNING, time.time()
            try:
                job.photos = len(walk_album(job.album)[0])
                job.counter = CountingPipeline(self.state.pipeline)
                # a gallery that another process holds locked, or that is briefly unreadable, is waited out; the
                # next attempt skips the photos already tagged
                summary = retry_transient(lambda: self._tag_once(job), what=f"tag job {job.id}", on_retry=retrying,
                                          stop=self.state.stopping)
                job.summary = summary.to_dict(with_photos=False)
                job.state, job.error = DONE, None
            except Exception as e:  # noqa: BLE001 - a job reports its failure; the server goes on
                log.exception("tag job %d failed", job.id)
                job.state, job.error = FAILED, str(e) or type(e).__name__
            finally:
                job.finished = time.time()

    def _tag_once(self, job: TagJob) -> Any:
        from facerec.album.tag import tag_album

        job.state = RUNNING
        with Gallery(self.state.config.gallery) as gallery:  # this thread's own connection, fresh on each attempt
            matcher = self.state.recognizer.matcher(gallery)
            return tag_album(job.album, gallery, job.counter, matcher=matcher, force=job.force, workers=2)
