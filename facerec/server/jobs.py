"""Background `tag` jobs: tag a folder on the server (one job at a time), with progress a client can poll.

A client names a folder; it must lie inside one of the folders `facerec serve --album-root DIR` allows
(resolved, so `..` and symlinks cannot step outside), since tagging reads every photo in it and the
review page then shows crops of the faces found. Inside it, a symbolic link to a photo or folder outside
the roots is not followed (it is listed as a problem in the job's summary).

When tagging is done the job groups the unknown faces again (if it found new ones), so that reading the
groups (GET /api/v1/clusters) never has to.
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

    def roots(self) -> list[Path]:
        return [Path(r).resolve() for r in self.state.config.album_roots]

    def resolve_album(self, text: str) -> Path:
        roots = self.roots()
        if not roots:
            raise ApiError(403, "tagging a folder needs the server to be started with --album-root DIR")
        if "\x00" in text:
            raise ApiError(400, f"{text!r}: a folder name cannot contain a NUL character")
        try:
            album = Path(text).expanduser()
            if not album.is_absolute():
                album = roots[0] / album
            album = album.resolve()
            is_dir = album.is_dir()
        except (OSError, ValueError, RuntimeError) as e:  # a name too long, a link loop
            raise ApiError(400, f"{text!r}: not a usable folder name ({getattr(e, 'strerror', None) or e})") from None
        if not any(album == root or album.is_relative_to(root) for root in roots):
            raise ApiError(403, f"{text!r} is outside the folders this server may tag (--album-root)")
        if not is_dir:
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
                job.photos = len(walk_album(job.album, confine=self.roots())[0])
                job.counter = CountingPipeline(self.state.pipeline)
                # a gallery that another process holds locked, or that is briefly unreadable, is waited out; the
                # next attempt skips the photos already tagged
                summary, clusters = retry_transient(lambda: self._tag_once(job), what=f"tag job {job.id}",
                                                    on_retry=retrying, stop=self.state.stopping)
                job.summary = summary.to_dict(with_photos=False)
                job.summary["clusters"] = clusters
                job.state, job.error = DONE, None
            except Exception as e:  # noqa: BLE001 - a job reports its failure; the server goes on
                log.exception("tag job %d failed", job.id)
                job.state, job.error = FAILED, str(e) or type(e).__name__
            finally:
                job.finished = time.time()

    def _tag_once(self, job: TagJob) -> tuple[Any, int | None]:
        from facerec.album.tag import tag_album

        job.state = RUNNING
        with Gallery(self.state.config.gallery) as gallery:  # this thread's own connection, fresh on each attempt
            summary = tag_album(job.album, gallery, job.counter, recognizer=self.state.recognizer, force=job.force,
                                workers=2, confine=self.roots())
            return summary, self.group_unknown_faces(gallery)

    def group_unknown_faces(self, gallery: Gallery) -> int | None:
        """Group the unknown faces again when tagging found new ones (a group whose faces changed gets a new id); how many groups,
        None when nothing new was found and the groups stay as they are."""
        from facerec.album.cluster import needs_clustering, recompute_clusters

        if not needs_clustering(gallery, self.state.backbone):
            return None
        return recompute_clusters(gallery, self.state.backbone)
