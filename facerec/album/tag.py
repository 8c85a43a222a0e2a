"""Batch photo tagging: find and name every face in an album, remember it, and write it out.

`tag_album` walks ALBUM_DIR, and for each photo:

1. reads the file once, hashes it (sha256) and looks it up in the gallery's `media` table:
   - same sha256, backbone, gallery version and decision (matcher + threshold, `decision_key`) as last
     time -> **skipped** (nothing decoded);
   - same sha256 and backbone, but people were enrolled / forgotten / named since, or another matcher or
     threshold decides -> **re-identified** from the stored embeddings (no detection, no embedding);
   - otherwise (new or changed file, other backbone, `force`) -> **analysed**;
2. analysed photos are decoded, detected (MTCNN) and aligned in a thread pool, and embedded in
   batches in the main thread while the pool works on the next photos. At most a few photos are in
   flight, so memory stays flat however big the album is. With `ray=RayCluster(...)` (`facerec tag
   --ray`) decode + detect + embed run as Ray tasks instead (facerec.album.distributed.analyse_photo), and
   everything else below stays here, so the results are those of a local run;
3. every face is named by the Recognizer's rule (facerec.recognition.recognizer.Recognizer.name_faces: the
   matcher fitted from the gallery, one name per photo, people's decisions honoured), so a photo's faces get
   the names `facerec identify` gives them, and the photo is recorded in the gallery (media + detections: box,
   landmarks, embedding, predicted name and score), which is what `facerec clusters` groups and `facerec name`
   enrolls from.

Outputs cover the whole album on every run, skipped photos included (their faces are read back
from the gallery), so a CSV/JSONL is always complete rather than a diff:

- CSV and JSONL (facerec.album.reports): one FaceResult per face: path (relative to the album), face_index,
  name, score, distance, box (x, y, w, h), confidence and probability. Photos without faces have no row; they are in
  the summary.
- `annotate_dir`: a copy of each photo with boxes and names, mirroring the album's folders
  (written for analysed and re-identified photos, and for skipped ones whose copy is missing).
- XMP sidecars (facerec.album.xmp): merged on every run; unchanged content is not rewritten.

Face regions the photos already carry (sidecars, embedded XMP, .picasa.ini: facerec.album.regions) are read
on every run, skipped photos included; a name a region gives wins over facerec's (facerec.album.region_names,
`named_by = "region"`), disagreements are listed in the summary, and their problems are per-photo lines.

Bad photos (unreadable, corrupt, truncated, too large, no face) never stop the run: they are counted
in the summary with the reason. Originals are only ever opened for reading.

Walking (facerec.files.walk): extensions are matched case-insensitively (facerec.vision.imageio.IMAGE_EXTENSIONS);
hidden files and folders (".name") and the output folders are skipped (also in later runs: an --annotate
folder holds a ".facerec-output" marker file); symlinks are followed, but each real
folder is entered once (tracked by (st_dev, st_ino)), so a link loop cannot hang the walk. What the
walk cannot use (.gif, videos, the RAW file of a RAW + JPEG pair, broken links, named pipes, names that are not UTF-8, folders that
cannot be listed) is listed in the summary's problems. No output may replace a photo (facerec.files.outputs).

Modules: photos (per-photo work in worker threads), tagger (the main-thread side), results, reports; this
module runs the whole album.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facerec.files.outputs import input_set, refuse_input
from facerec.album.xmp import shared_sidecar_photos
from facerec.errors import FacerecError
from facerec.names import is_utf8, printable
from facerec.album.photos import OUTPUT_MARKER, Prepared, TagOptions, media_key, prepare_photo, relative_name, walk_album
from facerec.album.reports import write_csv, write_jsonl
from facerec.album.results import TagSummary
from facerec.album.tagger import AlbumTagger, start_embedding_process

log = logging.getLogger(__name__)


def tag_album(
    album_dir: str | Path,
    gallery: Any,
    pipeline: Any,
    *,
    recognizer: Any = None,
    workers: int | None = None,
    force: bool = False,
    csv_path: str | Path | None = None,
    jsonl_path: str | Path | None = None,
    annotate_dir: str | Path | None = None,
    xmp: bool = False,
    xmp_naming: str = "darktable",
    xmp_unknown: bool = True,
    progress: bool = False,
    batch_size: int = 32,
    embed_in_process: bool | None = None,
    ray: RayCluster | None = None,
    confine: Sequence[Path] = (),
    regions: bool = True,
    picasa_contacts: str | Path | None = None,
) -> TagSummary:
    """Tag every photo under `album_dir` (see the module docstring); returns the run's summary.

    gallery: an open facerec.gallery.store.Gallery (used from this thread only).
    pipeline: a facerec.recognition.pipeline.FacePipeline (detector + backbone).
    recognizer: the facerec.recognition.recognizer.Recognizer that names the faces (its matcher, threshold and
             rule, as `facerec identify`); None = a Recognizer with the default matcher for `gallery` (every face
             unknown when nobody is enrolled). Its embeddings must be `pipeline`'s.
    embed_in_process: run the backbone in a child process beside decode + detect (facerec.album.embed_process);
             None = when the backbone holds the GIL (dlib's own engine: without the `onnx` extra, or
             FACEREC_DLIB_ENGINE=dlib) and the album has EMBED_PROCESS_MIN_PHOTOS photos.
    ray: run decode + detect + embed of the photos to analyse as Ray tasks (facerec.album.distributed); reading,
             hashing, skipping, identification, the gallery and the outputs stay here, as in a local run.
    confine: resolved folders the walk may not leave by a symbolic link (the server's --album-root).
    regions: read the face regions the photos already carry (facerec.album.regions): a name a region gives
             is kept (facerec.album.region_names); picasa_contacts: Picasa's contacts.xml for .picasa.ini names.
    """
    root = Path(album_dir)
    if not root.is_dir():
        raise FacerecError(f"{root}: not a folder")
    if not is_utf8(os.path.abspath(root)):
        raise FacerecError(f"{printable(str(root))}: the album's path is not valid UTF-8; rename the folder")
    options = TagOptions(force=force, annotate_dir=Path(annotate_dir) if annotate_dir else None, xmp=xmp,
                         xmp_naming=xmp_naming, xmp_unknown=xmp_unknown, batch_size=max(1, batch_size))
    if regions:
        from facerec.album.regions import RegionReader

        options.region_reader = RegionReader(picasa_contacts)
    check_output_options(root, options, csv_path, jsonl_path)
    if options.annotate_dir is not None:
        options.annotate_dir.mkdir(parents=True, exist_ok=True)
        (options.annotate_dir / OUTPUT_MARKER).write_text("annotated copies written by `facerec tag`\n")
    if xmp:
        from facerec.album.xmp import sidecar_paths

        sidecar_paths(root / "x.jpg", xmp_naming)  # validates the naming before any work
    from facerec.memory import return_big_blocks_to_the_system

    return_big_blocks_to_the_system()  # decoded photos must not pile up in malloc's heaps (flat memory)
    started = time.perf_counter()
    photos, walk_problems = walk_album(root, exclude=[options.annotate_dir] if options.annotate_dir else [],
                                       confine=confine)
    tagger = AlbumTagger(root, gallery, pipeline, album_recognizer(recognizer, gallery, pipeline), options)
    tagger.inputs = input_set(photos)
    for report in (csv_path, jsonl_path):
        if report:
            refuse_input(report, tagger.inputs)
    tagger.shared_sidecars = shared_sidecar_photos(photos, xmp_naming) if xmp else set()
    tagger.summary.photos = len(photos)
    for path, reason in walk_problems:
        tagger.summary.problems.append({"path": printable(relative_name(path, root)), "kind": "walk", "reason": reason})
    records = {media_key(p): gallery.media_record(media_key(p)) for p in photos}  # SQLite stays in this thread

    def annotated_exists(path: Path) -> bool:
        return tagger.annotated_path(path).exists()

    def work(path: Path) -> Prepared:
        return prepare_photo(path, records[media_key(path)], pipeline, tagger.version, options, annotated_exists,
                             remote=ray is not None, decision=tagger.decision)

    bar = progress_bar(len(photos), progress)
    if ray is not None:
        try:
            tag_on_ray(tagger, run_in_pool(work, photos, workers or default_workers()), ray, bar)
        finally:
            bar.close()
        return finish_run(tagger.summary, options, csv_path, jsonl_path, started)
    tagger.embedding = start_embedding_process(pipeline, len(photos), embed_in_process)
    try:
        for prepared in run_in_pool(work, photos, workers or default_workers()):
            tagger.accept(prepared)
            bar.update(1)
            bar.set_postfix(faces=tagger.summary.faces + sum(len(p.faces) for p in tagger.pending + tagger.in_flight),
                            skipped=tagger.summary.skipped, refresh=False)
        tagger.flush(wait=True)
    finally:
        bar.close()
        if tagger.embedding is not None:
            tagger.embedding.close()
    return finish_run(tagger.summary, options, csv_path, jsonl_path, started)


def album_recognizer(recognizer: Any, gallery: Any, pipeline: Any) -> Any:
    """The Recognizer naming this run's faces: `recognizer`, checked to expect `pipeline`'s embeddings, or the default."""
    if recognizer is None:
        from facerec.recognition.recognizer import Recognizer

        return Recognizer(gallery.path, pipeline=pipeline)
    if recognizer.embedding_id != pipeline.embedding_id:  # a gallery never mixes embeddings of two recipes
        raise FacerecError(f"the recognizer names {recognizer.embedding_id} embeddings, but the album is embedded"
                           f" as {pipeline.embedding_id}")
    return recognizer


def finish_run(summary: TagSummary, options: TagOptions, csv_path: str | Path | None,
               jsonl_path: str | Path | None, started: float) -> TagSummary:
    """Sort the results and write the album-wide outputs."""
    summary.results.sort(key=lambda r: r.rel_path)
    summary.problems.sort(key=lambda d: d["path"])
    if csv_path:
        write_csv(csv_path, summary.results)
        summary.outputs["csv"] = str(csv_path)
    if jsonl_path:
        write_jsonl(jsonl_path, summary.results)
        summary.outputs["jsonl"] = str(jsonl_path)
    if options.annotate_dir is not None:
        summary.outputs["annotated"] = str(options.annotate_dir)
    summary.seconds = time.perf_counter() - started
    return summary


def check_output_options(root: Path, options: TagOptions, csv_path: str | Path | None,
                         jsonl_path: str | Path | None) -> None:
    """Before anything is written: no output may replace a photo (see facerec.files.outputs)."""
    from facerec.errors import UsageError
    from facerec.files.outputs import check_copies_folder, check_report_path, real

    if options.annotate_dir is not None:
        check_copies_folder(options.annotate_dir, root, OUTPUT_MARKER)
    for option, report in (("--csv", csv_path), ("--jsonl", jsonl_path)):
        if report:
            check_report_path(report, option)
    if csv_path and jsonl_path and real(csv_path) == real(jsonl_path):
        raise UsageError(f"--csv and --jsonl are the same file ({csv_path}): one report would replace the other")


@dataclass(frozen=True)
class RayCluster:
    """Where `tag_album(ray=...)` runs its per-photo work: a cluster address, or None for a local cluster
    with `num_cpus` CPUs (None: all of this machine's). An already initialised Ray is used as it is."""

    address: str | None = None
    num_cpus: int | None = None


def tag_on_ray(tagger: AlbumTagger, prepared_photos: Iterable[Prepared], cluster: RayCluster, bar: Any) -> None:
    """Photos to analyse go to Ray tasks; the others, and the tasks' results, are accepted here as they come."""
    from facerec.album.distributed import RayRunner, WorkerSpec

    runner = RayRunner(WorkerSpec.of(tagger.pipeline), cluster.address, cluster.num_cpus)

    def accept_finished(block: bool) -> None:
        for prepared, result in runner.finished(block):
            tagger.accept_remote(prepared, result)
            bar.update(1)

    try:
        for prepared in prepared_photos:
            if prepared.data is None:
                tagger.accept(prepared)
                bar.update(1)
            else:
                while runner.full():
                    accept_finished(block=True)
                runner.submit(prepared, prepared.data)
                prepared.data = None
            accept_finished(block=False)
            bar.set_postfix(faces=tagger.summary.faces, skipped=tagger.summary.skipped, refresh=False)
        while runner.pending:
            accept_finished(block=True)
    finally:
        runner.close()


def run_in_pool(work: Callable[[Path], Prepared], items: Sequence[Path], workers: int) -> Iterator[Prepared]:
    """work(item) for every item in a thread pool, results in input order, at most ~2 x workers in flight."""
    in_flight: deque[Future] = deque()
    limit = max(2, 2 * workers)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="facerec-tag") as pool:
        try:
            for item in items:
                in_flight.append(pool.submit(work, item))
                if len(in_flight) >= limit:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for f in in_flight:  # on error or Ctrl-C: do not start what was queued
                f.cancel()


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", desc="tagging", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def configure_threads(workers: int) -> None:
    """TensorFlow thread pools for a run with `workers` decode/detect threads.

    MTCNN calls are serialised by the detector's lock, so one call at a time may use every core
    (intra-op); inter-op parallelism buys nothing for MTCNN's small graphs and only oversubscribes
    the CPU the decode threads and dlib also need. Set through TensorFlow's environment variables so
    that a run with nothing to detect never pays for importing TensorFlow; explicit user settings win.
    """
    intra, inter = str(os.cpu_count() or 1), str(min(2, max(1, workers)))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", intra)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", inter)
    tf = sys.modules.get("tensorflow")
    if tf is not None:  # already imported (tests, notebooks): the variables may be read already
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
            tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
        except (RuntimeError, ValueError):  # TensorFlow already initialised: keep its settings
            log.debug("TensorFlow already initialised; thread settings unchanged")
