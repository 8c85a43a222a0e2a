"""The recognition pipeline in one object: load → detect (a registered detector, MTCNN by default) → align → embed
(backbone). `build_pipeline` is the one place the CLI, the API, the server, Ray and the Recognizer make one.

Embedding uses test-time flip by default (`flip=None` takes the backbone's default from the registry):
each chip and its mirror image are embedded in the same batch and the embedding is the normalised mean
of the two, which measurably raised verification accuracy (facerec/thresholds.py has the figures).
`embedding_id` names the recipe (backbone, alignment, flip); the gallery keys embeddings by it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from facerec.backbones import DEFAULT_BACKBONE, Backbone, align_detected, embedding_id, flip_default, get_backbone
from facerec.detectors import detector_name, get_detector
from facerec.vision.imageio import ImageSource, Photo, load_image
from facerec.types import Face
from facerec.vectors import l2_normalise


# A face's chip is cut from a decode where the face's box is at least this many times the chip's side:
# downscaling further is what the aligners (dlib's pyramid, INTER_AREA) do anyway, so the chip is the same.
CHIP_SOURCE_FACTOR = 1.0


@dataclass
class FaceEmbedding:
    face: Face
    embedding: np.ndarray  # (d,) float32, unit length


class FacePipeline:
    def __init__(
        self,
        backbone: str | Backbone = DEFAULT_BACKBONE,
        *,
        weights: str | Path | None = None,
        detector: str | object | None = None,
        min_face_size: int = 20,
        batch_size: int = 32,
        embedder: Callable[[np.ndarray], np.ndarray] | None = None,
        flip: bool | None = None,
    ):
        """`embedder` replaces backbone.embed, e.g. a head fine-tuned together with its base network.
        `flip`: average each embedding with its mirror image's (None: the backbone's default).
        `detector`: a registered detector's name (None: FACEREC_DETECTOR, else MTCNN) or a detector object."""
        self.backbone = get_backbone(backbone, weights) if isinstance(backbone, str) else backbone
        if detector is None or isinstance(detector, str):
            detector = get_detector(detector, min_face_size=min_face_size)
        self.detector = detector
        self.batch_size = batch_size
        self.embedder = embedder or self.backbone.embed
        self.flip = flip_default(self.backbone.name) if flip is None else bool(flip)

    @property
    def embedding_id(self) -> str:
        """The gallery key of the embeddings this pipeline makes (backbone, alignment recipe, flip, detector)."""
        return embedding_id(self.backbone.name, self.flip, self.detector_name)

    @property
    def detector_name(self) -> str:
        return detector_name(self.detector)

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detector.detect(image)

    def detect_expecting_face(self, image: np.ndarray) -> list[Face]:
        """Detection for photos that must hold a face (enrollment, verify, evaluate): when the first look
        finds none, look again on a padded, an upscaled and a relaxed copy before giving up."""
        from facerec.vision.second_look import detect_with_second_look

        return detect_with_second_look(self.detector, image)

    def align(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        size = self.backbone.input_size
        if not faces:
            return np.zeros((0, size, size, 3), dtype=np.uint8)
        detector = self.detector_name  # the backbone's own alignment or its generic one (BackboneEntry.fitted_to)
        return np.stack([align_detected(self.backbone, image, f, detector) for f in faces])

    def detect_photo(self, photo: Photo) -> tuple[list[Face], np.ndarray]:
        """Faces (in the photo's displayed pixels) and their aligned chips, decoding only what each step needs:
        detection looks at the photo decoded at its detection scale (1/2, 1/4 or 1/8 of a camera-size JPEG),
        and the chips are cut from a decode where every face is at least CHIP_SOURCE_FACTOR x the chip's size
        (that same decode for faces that large; a finer one, the full photo at most, when a face is small)."""
        width, height = photo.size
        detect_reduced = getattr(self.detector, "detect_reduced", None)
        if detect_reduced is None:  # a detector of another kind sees the full photo
            image, scale = photo.decode(1.0)
            faces = self.detect(image)
        else:
            image, scale = photo.decode(self.detector.detection_scale(height, width))
            faces = detect_reduced(image, scale, (height, width))
        return faces, self.align_photo(photo, faces)

    def align_photo(self, photo: Photo, faces: list[Face]) -> np.ndarray:
        """The chips of `faces` (displayed pixels of `photo`), cut from the coarsest decode that keeps them sharp."""
        if not faces:
            return self.align(np.zeros((1, 1, 3), np.uint8), [])
        smallest = min(min(f.box[2], f.box[3]) for f in faces)
        needed = min(1.0, CHIP_SOURCE_FACTOR * self.backbone.input_size / max(1, smallest))
        image, scale = photo.decode(needed)
        return self.align(image, [scaled_face(f, scale) for f in faces])

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embed aligned chips in batches of `batch_size` (bounded memory on big albums)."""
        if len(chips) == 0:
            return np.zeros((0, self.backbone.embedding_size), dtype=np.float32)
        step = max(1, self.batch_size // 2) if self.flip else self.batch_size
        parts = [self._embed_batch(chips[i : i + step]) for i in range(0, len(chips), step)]
        return np.concatenate(parts).astype(np.float32)

    def _embed_batch(self, chips: np.ndarray) -> np.ndarray:
        if not self.flip:
            return self.embedder(chips)
        return flip_averaged(self.embedder, chips)

    def embed(self, image: np.ndarray, faces: list[Face]) -> np.ndarray:
        return self.embed_chips(self.align(image, faces))

    def analyse_image(self, image: np.ndarray, second_look: bool = False) -> list[FaceEmbedding]:
        """Every face of the image with its embedding; `second_look`: when none is found, look again as
        for a photo that must hold a face (identify: photos given one by one, face thumbnails among them)."""
        faces = self.detect_expecting_face(image) if second_look else self.detect(image)
        vectors = self.embed(image, faces)
        return [FaceEmbedding(f, v) for f, v in zip(faces, vectors)]

    def analyse(self, src: ImageSource, second_look: bool = False) -> list[FaceEmbedding]:
        return self.analyse_image(load_image(src), second_look)


def build_pipeline(backbone: str | Backbone | None = None, *, detector: str | object | None = None,
                   weights: str | Path | None = None, min_face_size: int = 20, flip: bool | None = None,
                   **options) -> FacePipeline:
    """The one way facerec makes a pipeline (CLI, API, server, Ray workers, Recognizer): `backbone` None is
    FACEREC_BACKBONE or the installed default, `detector` None is FACEREC_DETECTOR or MTCNN (or a detector object,
    e.g. one with Ray's MTCNN settings); `options`: FacePipeline's batch_size and embedder."""
    from facerec.backbones import default_backbone

    return FacePipeline(default_backbone() if backbone is None else backbone, weights=weights, detector=detector,
                        min_face_size=min_face_size, flip=flip, **options)


def scaled_face(face: Face, scale: float) -> Face:
    """`face` in the pixels of a copy of its photo at `scale`."""
    if abs(scale - 1.0) < 1e-9:
        return face
    x, y, w, h = face.box
    x0, y0, x1, y1 = round(x * scale), round(y * scale), round((x + w) * scale), round((y + h) * scale)
    landmarks = tuple((px * scale, py * scale) for px, py in face.landmarks)
    return Face((x0, y0, max(1, x1 - x0), max(1, y1 - y0)), face.confidence, landmarks)


def flip_averaged(embed: Callable[[np.ndarray], np.ndarray], chips: np.ndarray) -> np.ndarray:
    """Normalised mean of the embeddings of each chip and of its mirror image, in one batch."""
    chips = np.asarray(chips)
    both = np.concatenate([chips, chips[:, :, ::-1]])
    vectors = np.asarray(embed(np.ascontiguousarray(both)), dtype=np.float32)
    n = len(chips)
    return l2_normalise(vectors[:n] + vectors[n:])


def largest_face(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area) if faces else None


def main_face(faces: list[Face], image_shape: tuple[int, ...]) -> Face | None:
    """The subject of a photo meant to show one person (enrolment, verify, evaluate): the largest face,
    discounted by how far it is from the centre (insightface's rule: area minus twice the squared distance
    of the box centre from the image centre), so a bigger bystander at the edge is not taken for it.
    On LFW View 1, 590 of the 4,992 photos show more than one face, and in 24 of them the largest is
    not the subject's."""
    if not faces:
        return None
    cy, cx = image_shape[0] / 2, image_shape[1] / 2

    def score(face: Face) -> float:
        x, y, w, h = face.box
        return w * h - 2.0 * ((x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2)

    return max(faces, key=score)
