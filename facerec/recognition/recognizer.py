"""The Recognizer: one long-lived object every caller shares (CLI, Python API, tagging, live video, server).

    recognizer = Recognizer(gallery="team.sqlite")          # backbone: the CLI's default
    for face in recognizer.identify("door.jpg"):            # [FaceResult]
        print(face.name, face.distance, face.face.box)

It owns the rules that used to be repeated by each caller:
- the pipeline (detect → align → embed) for the backbone, built once;
- the matcher fitted on everyone enrolled for this pipeline's embeddings, kept warm and refitted only when
  the gallery's version moves (an enrolment or a `forget` from anywhere) or, for a head, when it is retrained;
- the identify threshold follows the gallery: refitting recomputes it from the number of enrolled faces
  (facerec.thresholds.identify_threshold), unless a `threshold` was given (then it is fixed);
- a head fine-tuned together with its base network gets embeddings from that base (`pipeline`);
- nobody enrolled: an error (`require_people`, as `facerec identify`) or every face unknown (tag, webcam, server);
- one naming rule for a photo's faces (`name_faces`: identify, tag, Ray, the server): one name per photo (a person is
  in a photo once; the closest face keeps the name), then people's decisions about an album photo's faces.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from facerec.errors import FacerecError, GalleryError
from facerec.recognition.pipeline import FacePipeline
from facerec.types import NAMED_BY_PERSON, UNKNOWN, Face, FaceResult, Identity
from facerec.vision.imageio import ImageSource, load_image

log = logging.getLogger(__name__)


class Recognizer:
    def __init__(self, gallery: str | Path | None = None, backbone: str | None = None, *, weights: str | Path | None = None,
                 flip: bool | None = None, matcher: str = "nn", threshold: float | None = None,
                 matcher_options: dict[str, Any] | None = None, min_face_size: int = 20,
                 pipeline: Any = None, require_people: bool = False, detector: str | None = None):
        """`gallery`: the SQLite file (None: the default, facerec.paths). `matcher`: nn, svm, logreg or head.
        `threshold`: the cosine distance above which a face is unknown, fixed (None: the backbone's identify
        threshold for the gallery's size, recomputed when it changes; facerec.thresholds). `pipeline`: an existing pipeline to share (else one is built). `detector`: a registered detector
        (None: FACEREC_DETECTOR, else MTCNN)."""
        from facerec.backbones import default_backbone
        from facerec.paths import default_gallery_path
        from facerec.recognition.pipeline import build_pipeline

        self.gallery_path = Path(gallery) if gallery is not None else default_gallery_path()
        self.kind = matcher
        self.threshold = threshold
        self.matcher_options = dict(matcher_options or {})
        self.require_people = require_people
        self.base = pipeline if pipeline is not None else build_pipeline(
            (backbone or default_backbone()).lower(), weights=weights, min_face_size=min_face_size, flip=flip,
            detector=detector)
        self.embedding_id: str = self.base.embedding_id
        self._lock = threading.RLock()
        self._stamp: tuple[Any, ...] | None = None
        self._matcher: Any = None
        self._pipeline = self.base
        self._local = threading.local()
        self.refits = 0

    # ---- the matcher, kept warm

    def matcher(self, gallery: Any = None) -> Any:
        """The fitted matcher for the gallery as it is now (None when nobody is enrolled and that is allowed).

        `gallery`: an open facerec.gallery.store.Gallery to read from (else this thread's own connection)."""
        gallery = gallery if gallery is not None else self._gallery()
        stamp = ("no gallery",) if gallery is None else (gallery.version(),
                                                           self._head_stamp() if self.kind == "head" else None)
        with self._lock:
            if stamp != self._stamp:
                self._matcher = self._fit(gallery) if gallery is not None else self._nobody(
                    f"no gallery at {self.gallery_path}")
                self._pipeline = self._pipeline_for(self._matcher)
                self._stamp = stamp
                self.refits += 1
            return self._matcher

    def matcher_for_stored_embeddings(self, gallery: Any = None) -> Any:
        """The matcher for embeddings made earlier by the base pipeline (an album's stored faces): a head
        fine-tuned with its base network cannot name those."""
        fitted = self.matcher(gallery)
        if getattr(fitted, "fine_tuned", False):
            raise FacerecError("a head fine-tuned with its base network cannot name the album's stored embeddings;"
                               " tag with --matcher nn, svm or logreg, or train a head without --fine-tune-blocks")
        return fitted

    @property
    def pipeline(self) -> FacePipeline:
        """The pipeline whose embeddings the current matcher expects (the fine-tuned base for such a head)."""
        self.matcher()
        return self._pipeline

    @property
    def threshold_(self) -> float | None:
        """The distance the current matcher decides `unknown` on (for the gallery as last fitted)."""
        from facerec.thresholds import threshold_for

        fitted = self._matcher
        value = getattr(fitted, "threshold_", None) if fitted is not None else None
        if value is None and self.kind != "head":
            value = self.threshold if self.threshold is not None else threshold_for(self.embedding_id, "identify")
        return value

    def people(self, gallery: Any = None) -> list[str]:
        fitted = self.matcher(gallery)
        return sorted(set(getattr(fitted, "classes_", []))) if fitted is not None else []

    # ---- identification

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        """Matcher-shaped access (the live video loop asks for its tracks' faces)."""
        fitted = self.matcher()
        if fitted is None or len(X) == 0:
            return [Identity(UNKNOWN, 0.0) for _ in range(len(X))]
        return fitted.predict_identities(np.atleast_2d(X))

    def identify_image(self, image: np.ndarray, path: str | None = None, second_look: bool = True,
                       gallery: Any = None) -> list[FaceResult]:
        """Every face of a decoded RGB image, named. The second look (a padded, an upscaled and a relaxed copy)
        is for photos given one by one, where a face thumbnail that fills the frame must still be found."""
        fitted = self.matcher(gallery)  # fitted (or refitted) first: it decides the pipeline (a fine-tuned head's base)
        found = self._pipeline.analyse_image(image, second_look=second_look)
        X = np.stack([f.embedding for f in found]) if found else np.zeros((0, 0), np.float32)
        results = self._name(fitted, [f.face for f in found], X, path, gallery, path)
        for result, f in zip(results, found):
            result.embedding = f.embedding
        return results

    def name_faces(self, faces: Sequence[Face], X: np.ndarray, photo: str | Path | None = None, gallery: Any = None,
                   shown_as: str | None = None) -> list[FaceResult]:
        """The faces of ONE photo or frame and their embeddings made by the base pipeline (tagging, stored or new;
        Ray workers), named by the rule `identify` follows: the matcher's names, each person at most once, then
        people's decisions about the faces of `photo` (if it is an album photo). The results carry `shown_as`
        as their path (default: `photo`). A head fine-tuned with its base network cannot name such embeddings."""
        photo = None if photo is None else str(photo)
        return self._name(self.matcher_for_stored_embeddings(gallery), faces, X, photo, gallery,
                          photo if shown_as is None else shown_as)

    def _name(self, fitted: Any, faces: Sequence[Face], X: np.ndarray, photo: str | None, gallery: Any,
              shown_as: str | None) -> list[FaceResult]:
        """The one naming rule (identify, tag, Ray): one name per photo, then people's decisions, as FaceResults."""
        from facerec.recognition.match import name_photo_faces

        identities = name_photo_faces(fitted, X)
        by_person = [False] * len(identities)
        if photo is not None and faces:  # an album photo: people's decisions about its faces outrank the matcher
            from facerec.gallery.decisions import honour_album_photo

            identities, by_person = honour_album_photo(gallery if gallery is not None else self._gallery(), photo,
                                                       list(faces), identities)
        results = [FaceResult.of(face, ident, i, shown_as) for i, (face, ident) in enumerate(zip(faces, identities))]
        for result, person in zip(results, by_person):
            result.named_by = NAMED_BY_PERSON if person else result.named_by
        return results

    def identify(self, src: ImageSource, second_look: bool = True) -> list[FaceResult]:
        path = str(src) if isinstance(src, (str, Path)) else None
        return self.identify_image(load_image(src), path, second_look)

    # ---- internals

    def _fit(self, gallery: Any) -> Any:
        from facerec.recognition.match import NobodyEnrolled, matcher_from_gallery

        try:
            return matcher_from_gallery(gallery, self.kind, self.embedding_id, self.threshold, **self.matcher_options)
        except NobodyEnrolled as e:
            return self._nobody(e.why)

    def _nobody(self, why: str) -> None:
        from facerec.detectors import DEFAULT_DETECTOR

        backbone = self.base.backbone.name
        detector = getattr(self.base, "detector_name", DEFAULT_DETECTOR)
        if detector != DEFAULT_DETECTOR:  # the same words in both messages below
            backbone += f" --detector {detector}"
        if self.require_people:
            raise GalleryError(f"{why}; run `facerec enroll PEOPLE_DIR --backbone {backbone}` first")
        log.warning("%s: every face will be 'unknown' (enroll people with `facerec enroll PEOPLE_DIR --backbone %s`)",
                    why, backbone)
        return None

    def _pipeline_for(self, fitted: Any) -> FacePipeline:
        """A head fine-tuned with its base network expects embeddings from that base."""
        if not getattr(fitted, "fine_tuned", False):
            return self.base
        from facerec.recognition.pipeline import build_pipeline

        return build_pipeline(self.base.backbone, detector=self.base.detector, embedder=fitted.embed_chips,
                              flip=self.base.flip)

    def _gallery(self) -> Any:
        """This thread's read connection to the gallery (a connection stays in the thread that opened it)."""
        from facerec.gallery.store import Gallery

        gallery = getattr(self._local, "gallery", None)
        if gallery is None:
            if not self.gallery_path.exists():  # matcher() says so: an error with require_people, else a warning
                return None
            gallery = self._local.gallery = Gallery(self.gallery_path, create=False)
        return gallery

    def _head_stamp(self) -> int | None:
        """When the head trained on this gallery was last written (retraining does not change the gallery)."""
        from facerec.paths import head_dir

        try:
            return max(entry.stat().st_mtime_ns for entry in os.scandir(head_dir(self.gallery_path, self.embedding_id)))
        except (OSError, ValueError):  # no head (yet): matcher_from_gallery says so
            return None
