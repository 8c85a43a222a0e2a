"""Transfer learning: a small Keras classifier ("head") on top of a frozen face-embedding network.

This is the classic keras-vggface recipe, as an estimator:

1. Frozen base. Every enrolled photo goes through the backbone once; its embedding (the
   "bottleneck feature") is what the head learns from. Without augmentation these are exactly the
   gallery's stored embeddings, so nothing is re-read. Augmented variants (flip, +-10 degree
   rotation, +-20 % brightness, applied to the aligned face chip) are embedded once and cached on
   disk as .npy files keyed by (backbone, sha256 of the photo, face box, variant), beside the gallery.
2. New head. Dense(256, relu) -> Dropout -> Dense(n_people, softmax), trained with early stopping,
   balanced class weights and, when every person has enough photos, a validation split made by
   photo (augmented copies of a photo never straddle the split).
3. Optional fine-tuning (the Keras backbones: dlib-keras, vgg16, resnet50, senet50). After the head
   converges, the last N blocks of the backbone are unfrozen and trained with the head at a low
   learning rate (1e-5) on the chips themselves and their augmented copies (every augmentation, with
   or without --augment: a few photos per person would otherwise be memorised). For dlib-keras the
   last N residual blocks and the 128-d fc layer are unfrozen, and the frozen trunk below them runs
   once per chip (its output is cached in memory), so each epoch only runs the trained top. The
   fine-tuned base is saved next to the head (base.weights.h5); faces must then be embedded with it
   (`FaceHead.embed_chips`). The `dlib` backbone runs inside dlib's C++ and cannot be fine-tuned: use
   `dlib-keras`, the same network and chips.

Open set: a softmax always names someone, so `predict_identities` answers `unknown` when the top
probability is below `min_probability` or when the face is farther (cosine distance) than
`max_distance` from the centroid of the training embeddings of the predicted person.

Saved beside the gallery it was trained on, <gallery stem>-heads/<embedding id>/head.keras + head.json
(class names, thresholds, centroids, metrics, the gallery and embedding id; plain JSON, no pickle; all
files private), see facerec.paths. A head names the people of its gallery, so loading it for a gallery
checks that every person it can name is still enrolled there (`facerec forget` deletes the heads that
name the forgotten person).
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facerec.backbones.base import KerasBase
from facerec.backbones.registry import entry
from facerec.errors import FacerecError, MissingExtraError
from facerec.files.atomic import PRIVATE, atomic_save, atomic_write, atomic_write_text
from facerec.paths import bottleneck_cache_dir, head_dir
from facerec.types import UNKNOWN, Face, Identity
from facerec.vectors import l2_normalise

log = logging.getLogger(__name__)

HEAD_FORMAT = "facerec-head"
HEAD_FORMAT_VERSION = 1
HEAD_FILENAME = "head.keras"
BASE_WEIGHTS_FILENAME = "base.weights.h5"
# Validation needs a few photos per person: with fewer, holding one out costs more than it measures.
MIN_PHOTOS_PER_PERSON_FOR_VALIDATION = 5
FINE_TUNE_LEARNING_RATE = 1e-5
# scripts/evaluate_finetune.py (README, "dlib's ResNet in Keras"): on LFW with 1, 3 or 5 photos per person,
# fine-tuning dlib-keras' last block left closed-set top-1 unchanged and made many genuine faces `unknown`.
FINE_TUNE_MEASURED_UP_TO_PHOTOS = 5


# --------------------------------------------------------------------------------------------------
# Where things live
# --------------------------------------------------------------------------------------------------


def gallery_head_path(gallery: str | Path, embedding: str) -> Path:
    """head.keras of the head trained on `gallery` for the embedding id `embedding`."""
    return head_dir(gallery, embedding) / HEAD_FILENAME


def _head_files(path: Path) -> tuple[Path, Path]:
    """(head.keras, head.json) for a .keras path or a folder holding them."""
    path = Path(path)
    if path.suffix != ".keras":
        path = path / HEAD_FILENAME
    return path, path.with_suffix(".json")


# --------------------------------------------------------------------------------------------------
# Augmentation of aligned chips
# --------------------------------------------------------------------------------------------------


def _rotate(chip: np.ndarray, degrees: float) -> np.ndarray:
    import cv2

    h, w = chip.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(chip, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _brightness(chip: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(chip.astype(np.float32) * factor, 0, 255).astype(np.uint8)


# Deterministic variants, so each one's embedding can be cached by name.
AUGMENTATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "flip": lambda c: np.ascontiguousarray(c[:, ::-1]),
    "rot-10": lambda c: _rotate(c, -10),
    "rot+10": lambda c: _rotate(c, 10),
    "dark20": lambda c: _brightness(c, 0.8),
    "bright20": lambda c: _brightness(c, 1.2),
}
ORIGINAL = "orig"


def augmented_chips(chip: np.ndarray, variants: Sequence[str]) -> np.ndarray:
    return np.stack([chip if v == ORIGINAL else AUGMENTATIONS[v](chip) for v in variants])


def resolve_variants(augment: bool | Sequence[str]) -> list[str]:
    """[ORIGINAL] plus the augmentations asked for (True: all of them)."""
    if augment is True:
        return [ORIGINAL, *AUGMENTATIONS]
    if not augment:
        return [ORIGINAL]
    unknown = [v for v in augment if v not in AUGMENTATIONS]
    if unknown:
        raise FacerecError(f"unknown augmentation {unknown}; choose from {', '.join(AUGMENTATIONS)}")
    return [ORIGINAL, *[v for v in AUGMENTATIONS if v in augment]]


# --------------------------------------------------------------------------------------------------
# Bottleneck cache
# --------------------------------------------------------------------------------------------------


class BottleneckCache:
    """Embeddings of chips under a frozen backbone, one .npy per (backbone, photo sha256, face box, variant).

    Files are written atomically and read with allow_pickle=False. Counters say what happened. The
    default folder is beside the gallery (facerec.paths.bottleneck_cache_dir).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, backbone: str, sha256: str, face: Face, variant: str) -> Path:
        box = "_".join(str(int(v)) for v in face.box)
        return self.folder / backbone / sha256[:2] / f"{sha256}-{box}-{variant}.npy"

    def get(self, backbone: str, sha256: str, face: Face, variant: str) -> np.ndarray | None:
        path = self.path(backbone, sha256, face, variant)
        try:
            vector = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return np.asarray(vector, dtype=np.float32)

    def put(self, backbone: str, sha256: str, face: Face, variant: str, vector: np.ndarray) -> None:
        path = self.path(backbone, sha256, face, variant)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        atomic_write(path, buffer.getvalue(), mode=PRIVATE)  # embeddings are biometric data

    def remove_photo(self, sha256: str) -> int:
        """Delete every cached embedding of the photo with this content (any backbone, face, variant); how many."""
        removed = 0
        for path in self.folder.glob(f"*/{sha256[:2]}/{sha256}-*.npy"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed


# --------------------------------------------------------------------------------------------------
# The head
# --------------------------------------------------------------------------------------------------


def _keras():
    from facerec.device import quiet_tensorflow

    quiet_tensorflow()
    import keras

    return keras


def validation_split(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int,
                     min_photos: int = MIN_PHOTOS_PER_PERSON_FOR_VALIDATION) -> np.ndarray | None:
    """Boolean mask of validation rows, whole groups (photos) at a time, stratified by person;
    None when some person has fewer than `min_photos` photos."""
    if fraction <= 0:
        return None
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        person_groups = np.unique(groups[labels == c])
        if len(person_groups) < min_photos:
            return None
        n_val = max(1, int(round(fraction * len(person_groups))))
        chosen = rng.choice(person_groups, size=n_val, replace=False)
        mask |= (labels == c) & np.isin(groups, chosen)
    return mask


def train_with_early_stopping(model, x: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray,
                              validation: tuple[np.ndarray, np.ndarray] | None, epochs: int, patience: int,
                              batch_size: int, learning_rate: float, seed: int = 0,
                              min_delta: float = 1e-3) -> dict[str, list[float]]:
    """Mini-batch Adam on a Keras model (softmax output, integer labels) with early stopping that restores
    the best weights; monitors the validation loss when there is validation data, else the training loss.

    A compiled TensorFlow step instead of `model.fit`: on a few hundred embeddings Keras' per-epoch
    overhead (iterators, callbacks, a separate evaluation pass) is 100x the actual work.
    """
    keras = _keras()
    import tensorflow as tf

    optimizer = keras.optimizers.Adam(learning_rate)
    per_sample_loss = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True, autograph=False)
    def step(xb, yb, wb):
        with tf.GradientTape() as tape:
            probs = model(xb, training=True)
            loss = tf.reduce_sum(per_sample_loss(yb, probs) * wb) / tf.reduce_sum(wb)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, probs

    @tf.function(reduce_retracing=True, autograph=False)
    def infer(xb):
        return model(xb, training=False)

    def evaluate(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        probs = np.concatenate([np.asarray(infer(tf.constant(xs[i:i + batch_size])))
                                for i in range(0, len(xs), batch_size)])
        picked = np.clip(probs[np.arange(len(ys)), ys], 1e-7, 1.0)
        return float(-np.log(picked).mean()), float(np.mean(probs.argmax(axis=1) == ys))

    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    best_value, best_weights, waited = np.inf, None, 0
    for _ in range(max(1, epochs)):
        order = rng.permutation(len(x))
        losses, correct, seen = [], 0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss, probs = step(tf.constant(x[idx]), tf.constant(labels[idx]), tf.constant(sample_weight[idx]))
            losses.append(float(loss) * len(idx))
            correct += int(np.sum(np.asarray(probs).argmax(axis=1) == labels[idx]))
            seen += len(idx)
        history["loss"].append(sum(losses) / seen)
        history["accuracy"].append(correct / seen)
        if validation is not None:
            val_loss, val_accuracy = evaluate(*validation)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_accuracy)
        value = history["val_loss" if validation is not None else "loss"][-1]
        if value < best_value - min_delta:
            best_value, best_weights, waited = value, model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return {k: v for k, v in history.items() if v}


class FaceHead:
    """A softmax classifier over embeddings with an open-set gate (scikit-learn estimator shape).

    hidden: sizes of the hidden Dense(relu) layers (default one of 256), each followed by Dropout(dropout).
    min_probability: unknown when the top softmax probability is lower.
    max_distance: unknown when the cosine distance to the predicted person's training centroid is
                  larger (None: facerec.thresholds.threshold_for(backbone)).
    """

    def __init__(self, backbone: str = "dlib", hidden: Sequence[int] = (256,), dropout: float = 0.5,
                 min_probability: float = 0.5, max_distance: float | None = None, epochs: int = 200,
                 batch_size: int = 32, learning_rate: float = 1e-3, patience: int = 15,
                 validation_fraction: float = 0.2, seed: int = 0, verbose: int = 0):
        self.backbone = backbone
        self.hidden = tuple(int(h) for h in hidden)
        self.dropout = dropout
        self.min_probability = min_probability
        self.max_distance = max_distance
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.verbose = verbose
        self.fine_tuned_blocks = 0
        self.base_weights_path: Path | None = None
        self._base_model = None
        self.gallery_: str | None = None  # the gallery it was trained on (train_from_gallery sets both)
        self.embedding_: str | None = None  # the embedding id of the gallery rows it learned from

    # ---- training

    def build_model(self, n_features: int, n_classes: int):
        keras = _keras()
        inputs = keras.Input(shape=(n_features,), name="embedding")
        x = inputs
        for i, units in enumerate(self.hidden):
            x = keras.layers.Dense(units, activation="relu", name=f"head_dense_{i}")(x)
            x = keras.layers.Dropout(self.dropout, name=f"head_dropout_{i}")(x)
        outputs = keras.layers.Dense(n_classes, activation="softmax", name="head_softmax")(x)
        return keras.Model(inputs, outputs, name="facerec_head")

    def fit(self, X: np.ndarray, y: Sequence[str], groups: Sequence[Any] | None = None) -> "FaceHead":
        """Train on embeddings X (n, d) with person names y. `groups` (e.g. photo ids) keeps the augmented
        copies of one photo on the same side of the validation split; default: every row is its own photo."""
        keras = _keras()
        X = l2_normalise(X)
        y = np.asarray([str(v) for v in y])
        if len(X) != len(y) or len(X) == 0:
            raise FacerecError("training needs one name per embedding, and at least one embedding")
        self.classes_ = sorted(set(y.tolist()))
        if len(self.classes_) < 2:
            raise FacerecError("a classifier head needs at least 2 enrolled people (it learns to tell them apart); "
                               "enroll more people, or use the nearest-neighbour matcher")
        labels = np.searchsorted(self.classes_, y)
        groups_arr = np.asarray(groups) if groups is not None else np.arange(len(X))
        self.n_features_in_ = X.shape[1]
        self.centroids_ = self._centroids(X, labels)
        self.max_distance_ = self._resolve_max_distance()
        self.min_probability_ = float(self.min_probability)
        keras.utils.set_random_seed(self.seed)  # reproducible heads (also seeds Python's and numpy's global RNGs)
        self.model_ = self.build_model(X.shape[1], len(self.classes_))
        self.metrics_ = self._train(self.model_, X, labels, groups_arr, self.epochs, self.patience)
        self.metrics_["n_samples"] = int(len(X))
        self.metrics_["n_photos"] = int(len(np.unique(groups_arr)))
        self.samples_per_class_ = {name: int(n) for name, n in zip(self.classes_, np.bincount(labels))}
        self.trained_at_ = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        return self

    def _centroids(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return l2_normalise(np.stack([X[labels == c].mean(axis=0) for c in range(len(self.classes_))]))

    def _resolve_max_distance(self) -> float:
        if self.max_distance is not None:
            return float(self.max_distance)
        from facerec.thresholds import threshold_for

        return float(threshold_for(self.backbone, "identify"))

    def _train(self, model, inputs: np.ndarray, labels: np.ndarray, groups: np.ndarray, epochs: int,
               patience: int, learning_rate: float | None = None) -> dict[str, Any]:
        """Fit with early stopping and balanced class weights; a validation split when there are enough photos."""
        from sklearn.utils.class_weight import compute_class_weight

        val = validation_split(labels, groups, self.validation_fraction, self.seed)
        train = ~val if val is not None else np.ones(len(labels), dtype=bool)
        present = np.unique(labels[train])
        weights = compute_class_weight("balanced", classes=present, y=labels[train])
        class_weight = dict(zip(present.tolist(), weights.tolist()))
        history = train_with_early_stopping(
            model, inputs[train], labels[train], np.array([class_weight[c] for c in labels[train]], dtype=np.float32),
            validation=(inputs[val], labels[val]) if val is not None else None,
            epochs=epochs, patience=patience, batch_size=self.batch_size,
            learning_rate=learning_rate or self.learning_rate, seed=self.seed,
        )
        monitor = "val_loss" if val is not None else "loss"
        best = int(np.argmin(history[monitor]))
        metrics: dict[str, Any] = {
            "epochs_run": len(history["loss"]), "best_epoch": best + 1, "monitor": monitor,
            "loss": history["loss"][best], "accuracy": history["accuracy"][best],
            "n_train": int(train.sum()), "n_validation": int(val.sum()) if val is not None else 0,
        }
        if val is not None:
            metrics["val_loss"] = history["val_loss"][best]
            metrics["val_accuracy"] = history["val_accuracy"][best]
        return metrics

    # ---- prediction

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise FacerecError("this head is not trained yet: call fit() or load_head()")

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, n_people) softmax probabilities in classes_ order (no 'unknown' column)."""
        self._check_fitted()
        X = l2_normalise(X)
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        if X.shape[1] != self.n_features_in_:
            raise FacerecError(f"this head was trained on {self.n_features_in_}-d {self.backbone} embeddings, "
                               f"got {X.shape[1]}-d ones: use --backbone {self.backbone} or train a new head")
        return np.asarray(self.model_.predict_on_batch(X), dtype=np.float32)

    def predict_identities(self, X: np.ndarray) -> list[Identity]:
        X = l2_normalise(X)
        if len(X) == 0:
            return []
        proba = self.predict_proba(X)
        best = proba.argmax(axis=1)
        distances = 1.0 - np.sum(X * self.centroids_[best], axis=1)
        out = []
        for c, p, d in zip(best, proba[np.arange(len(best)), best], distances):
            name = self.classes_[int(c)]
            known = p >= self.min_probability_ and d <= self.max_distance_
            extra = {} if known else {"nearest": name,
                                      "reason": "low probability" if p < self.min_probability_ else "too far"}
            out.append(Identity(name if known else UNKNOWN, float(p), float(d), extra))
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Open-set names (UNKNOWN for faces that match nobody)."""
        return np.array([i.name for i in self.predict_identities(X)], dtype=object)

    def decision_key(self) -> str:
        """What decides this head's names (facerec.album.tag.decision_key): its classes, gates and weights, so that
        a head trained again to other weights re-identifies an album's photos."""
        import hashlib

        self._check_fitted()
        digest = hashlib.sha256(json.dumps([list(self.classes_), self.max_distance_, self.min_probability_,
                                            self.embedding_]).encode())
        for array in self.model_.get_weights():
            digest.update(np.ascontiguousarray(array).tobytes())
        return f"head {digest.hexdigest()[:16]}"

    # ---- fine-tuned base

    @property
    def fine_tuned(self) -> bool:
        return self.fine_tuned_blocks > 0

    def base_model(self):
        """The fine-tuned embedding network (Keras), loaded on first use."""
        if not self.fine_tuned:
            raise FacerecError("this head was trained on a frozen backbone: embed faces with the backbone itself")
        if self._base_model is None:
            model = keras_base(self.backbone).model("random")
            model.load_weights(self.base_weights_path)
            self._base_model = model
        return self._base_model

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Embeddings of aligned chips from the fine-tuned base (what predict_identities expects after fine-tuning)."""
        chips = np.asarray(chips)
        if len(chips) == 0:
            return np.zeros((0, self.n_features_in_), dtype=np.float32)
        return l2_normalise(self.base_model().predict_on_batch(keras_base(self.backbone).preprocess(chips)))

    # ---- persistence

    def to_json(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION,
            "backbone": self.backbone, "classes": list(self.classes_), "embedding_dim": int(self.n_features_in_),
            "hidden": list(self.hidden), "dropout": self.dropout,
            "min_probability": self.min_probability_, "max_distance": self.max_distance_,
            "threshold": self.max_distance_,
            "trained_at": self.trained_at_, "metrics": self.metrics_, "samples_per_class": self.samples_per_class_,
            "centroids": [[float(v) for v in row] for row in self.centroids_],
            "fine_tuned_blocks": self.fine_tuned_blocks,
            "base_weights": BASE_WEIGHTS_FILENAME if self.fine_tuned else None,
            "augmentations": getattr(self, "augmentations_", [ORIGINAL]),
            "seed": self.seed,
            "gallery": self.gallery_, "embedding": self.embedding_,
        }

    def save(self, path: Path | None = None) -> Path:
        """Write head.keras + head.json (and base.weights.h5 when fine-tuned), by default beside the gallery
        it was trained on; returns the .keras path."""
        self._check_fitted()
        if path is None:
            if self.gallery_ is None or self.embedding_ is None:
                raise FacerecError("this head was not trained from a gallery, so it has no default place: give a path")
            path = gallery_head_path(self.gallery_, self.embedding_)
        keras_path, json_path = _head_files(path)
        # atomic and private from the first byte: a crash never leaves half a head, nobody else reads it
        atomic_save(keras_path, self.model_.save)
        if self.fine_tuned:
            base_path = keras_path.parent / BASE_WEIGHTS_FILENAME
            if self._base_model is not None and (self.base_weights_path is None
                                                 or Path(self.base_weights_path).resolve() != base_path.resolve()):
                atomic_save(base_path, self._base_model.save_weights)
            self.base_weights_path = base_path
        atomic_write_text(json_path, json.dumps(self.to_json(), indent=1), mode=PRIVATE)  # holds face centroids
        return keras_path

    @classmethod
    def load(cls, path: Path) -> "FaceHead":
        keras_path, json_path = _head_files(path)
        if not keras_path.is_file() or not json_path.is_file():
            raise MissingExtraError(f"no trained head at {keras_path.parent} (needs {keras_path.name} and "
                                    f"{json_path.name}): run `facerec train` first")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FacerecError(f"{json_path}: unreadable head description ({e}); run `facerec train` again") from e
        if meta.get("format") != HEAD_FORMAT:
            raise FacerecError(f"{json_path}: not a facerec head file")
        head = cls(backbone=meta["backbone"], hidden=meta["hidden"], dropout=meta["dropout"],
                   min_probability=meta["min_probability"], max_distance=meta["max_distance"], seed=meta.get("seed", 0))
        keras = _keras()
        try:
            head.model_ = keras.models.load_model(keras_path, compile=False)
        except Exception as e:  # Keras raises many types for a damaged file
            raise FacerecError(f"{keras_path}: cannot load the trained head ({e}); run `facerec train` again") from e
        head.classes_ = list(meta["classes"])
        head.n_features_in_ = int(meta["embedding_dim"])
        head.min_probability_ = float(meta["min_probability"])
        head.max_distance_ = float(meta["max_distance"])
        head.centroids_ = np.asarray(meta["centroids"], dtype=np.float32)
        head.metrics_ = meta.get("metrics", {})
        head.samples_per_class_ = meta.get("samples_per_class", {})
        head.trained_at_ = meta.get("trained_at", "")
        head.augmentations_ = meta.get("augmentations", [ORIGINAL])
        head.fine_tuned_blocks = int(meta.get("fine_tuned_blocks") or 0)
        head.gallery_ = meta.get("gallery")
        head.embedding_ = meta.get("embedding")
        if head.fine_tuned:
            head.base_weights_path = keras_path.parent / meta["base_weights"]
            if not head.base_weights_path.is_file():
                raise MissingExtraError(f"{head.base_weights_path} is missing (the head was fine-tuned with it); "
                                        "run `facerec train` again")
        return head


def load_head(backbone: str, path: Path | str) -> FaceHead:
    """The trained head at `path` (a head.keras file or its folder), which must be for `backbone`."""
    head = FaceHead.load(Path(path))
    if head.backbone != backbone:
        raise FacerecError(f"the head at {path} was trained for backbone "
                           f"{head.backbone}, not {backbone}: pass --backbone {head.backbone} or run `facerec train`")
    return head


def load_gallery_head(gallery, embedding: str) -> FaceHead:
    """The head trained on `gallery` (an open Gallery) for `embedding`, checked against the gallery as it is now."""
    from facerec.backbones import backbone_of

    head = load_head(backbone_of(embedding), head_dir(gallery.path, embedding))
    check_head_fits_gallery(head, gallery, embedding)
    return head


def check_head_fits_gallery(head: FaceHead, gallery, embedding: str) -> None:
    """Refuse a head that could name someone this gallery does not hold (or was trained on other embeddings);
    warn when it was trained on another gallery file or before someone was enrolled."""
    where = head_dir(gallery.path, embedding)
    if head.embedding_ is not None and head.embedding_ != embedding:
        raise FacerecError(f"the head at {where} was trained on {head.embedding_} embeddings, not {embedding}; "
                           "run `facerec train` again with the same options")
    enrolled = {p.name for p in gallery.people(embedding) if p.faces > 0}
    gone = sorted(set(head.classes_) - enrolled)
    if gone:
        raise FacerecError(f"the head at {where} can name {len(gone)} person(s) not enrolled in {gallery.path} "
                           f"({', '.join(gone[:5])}); run `facerec train` again")
    if head.gallery_ is not None and Path(head.gallery_) != Path(gallery.path).resolve():
        log.warning("the head at %s was trained on the gallery %s, not %s; run `facerec train` to be sure",
                    where, head.gallery_, gallery.path)
    new = sorted(enrolled - set(head.classes_))
    if new:
        log.warning("the head at %s was trained before %s was enrolled and cannot name them; run `facerec train` again",
                    where, ", ".join(new[:5]))


# --------------------------------------------------------------------------------------------------
# Training data from the gallery
# --------------------------------------------------------------------------------------------------


@dataclass
class TrainingPhoto:
    """One enrolled face: who, where the photo is, its content hash, the face and its stored embedding."""

    person: str
    path: Path
    sha256: str
    face: Face
    embedding: np.ndarray


def gallery_training_photos(gallery, backbone: str) -> list[TrainingPhoto]:
    """Every enrolled photo with a face embedded by `backbone`."""
    photos = []
    for record in gallery.photos():
        stored = gallery.face(record.id, backbone)
        if stored is None:
            continue
        face, embedding, _ = stored
        path = record.path
        if record.source == "tag" and "#face" in path:  # a face named from a group photo: "<media>#face<i>"
            path = path.rsplit("#face", 1)[0]
        photos.append(TrainingPhoto(record.person, Path(path), record.sha256, face, embedding))
    return photos


def _photo_chip(photo: TrainingPhoto, backbone) -> np.ndarray | None:
    """The aligned chip of a training photo, or None when the file is gone or has changed since enrollment."""
    from facerec.files.atomic import file_sha256
    from facerec.vision.imageio import load_image

    try:
        if file_sha256(photo.path) != photo.sha256:
            log.warning("%s changed since it was enrolled; re-enroll it (using its stored embedding only)", photo.path)
            return None
        return backbone.align(load_image(photo.path), photo.face)
    except (OSError, FacerecError) as e:
        log.warning("cannot read %s (%s); using its stored embedding only", photo.path, e)
        return None


def bottleneck_features(photos: Sequence[TrainingPhoto], backbone, variants: Sequence[str],
                        cache: BottleneckCache,
                        progress: bool = False) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(X, names, photo index of each row): the stored embedding of each photo plus its augmented variants,
    embedded by the frozen backbone once and then read from the cache."""
    rows, names, groups = [], [], []
    iterator: Any = enumerate(photos)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(photos), desc="bottlenecks", unit="photo")
    for index, photo in iterator:
        vectors = {ORIGINAL: np.asarray(photo.embedding, dtype=np.float32)}
        wanted = [v for v in variants if v != ORIGINAL]
        missing = []
        for v in wanted:
            cached = cache.get(backbone.name, photo.sha256, photo.face, v)
            if cached is None:
                missing.append(v)
            else:
                vectors[v] = cached
        if missing:
            chip = _photo_chip(photo, backbone)
            if chip is not None:
                embedded = backbone.embed(augmented_chips(chip, missing))
                for v, vector in zip(missing, embedded):
                    cache.put(backbone.name, photo.sha256, photo.face, v, vector)
                    vectors[v] = vector
        for v in variants:
            if v in vectors:
                rows.append(vectors[v])
                names.append(photo.person)
                groups.append(index)
    return np.stack(rows).astype(np.float32), names, np.asarray(groups)


# --------------------------------------------------------------------------------------------------
# Fine-tuning the last blocks of a Keras backbone
# --------------------------------------------------------------------------------------------------


def check_fine_tunable(backbone: str) -> None:
    """A clear error before minutes of training when the backbone is not a Keras model (its registry entry)."""
    if not entry(backbone).fine_tunable:
        entry(backbone).keras_base()  # raises, saying which backbones can be fine-tuned


def keras_base(backbone: str) -> KerasBase:
    """The backbone's fine-tuning hook (its registry entry's): model, last blocks, preprocessing, split."""
    return entry(backbone).keras_base()


def fine_tune(head: FaceHead, chips: np.ndarray, names: Sequence[str], n_blocks: int, base_model=None,
              weights: str | Path | None = None, epochs: int = 10, learning_rate: float = FINE_TUNE_LEARNING_RATE,
              batch_size: int = 8, groups: Sequence[Any] | None = None,
              augment: bool | Sequence[str] = True) -> dict[str, Any]:
    """Unfreeze the last `n_blocks` blocks of the backbone and train them with the (already trained) head.

    chips: aligned RGB uint8 chips (n, s, s, 3) with person names; each is also used in its augmented
    variants (`augment`, default all). base_model: the Keras embedding network to start from (default:
    the backbone's own with `weights`). BatchNormalization runs in inference mode so a handful of photos
    cannot wreck its statistics. Where the backbone can be cut below the unfrozen blocks (dlib-keras), the
    frozen trunk runs once per chip and only the top is trained. Afterwards the head's centroids are
    recomputed with the fine-tuned base, and the base is kept on the head (saved by save()).
    """
    parts = keras_base(head.backbone)
    head._check_fitted()
    if n_blocks < 1:
        raise FacerecError("--fine-tune-blocks must be at least 1")
    if base_model is None:
        base_model = parts.model(weights)
    trunk, top, unfrozen = prepare_fine_tuning(head.backbone, base_model, n_blocks)
    variants = resolve_variants(augment)
    chips = np.asarray(chips)
    groups_arr = np.asarray(groups) if groups is not None else np.arange(len(chips))
    x = parts.preprocess(np.concatenate([augmented_chips(c, variants) for c in chips]))
    if trunk is not None:  # the frozen part runs once, not once per epoch
        x = np.asarray(trunk.predict(x, batch_size=32, verbose=0), dtype=np.float32)
    is_original = np.tile(np.asarray(variants) == ORIGINAL, len(chips))
    metrics = fine_tune_top(head, top, x, np.repeat(np.asarray([str(n) for n in names]), len(variants)),
                            np.repeat(groups_arr, len(variants)), is_original, epochs=epochs,
                            learning_rate=learning_rate, batch_size=batch_size)
    head.fine_tuned_blocks = n_blocks
    head._base_model = base_model
    head.base_weights_path = None  # not on disk until save()
    metrics["unfrozen_layers"] = sorted(unfrozen & {layer.name for layer in base_model.layers})
    metrics["augmentations"] = variants
    return metrics


def prepare_fine_tuning(backbone: str, base_model, n_blocks: int) -> tuple[Any, Any, set[str]]:
    """Freeze all of `base_model` but its last `n_blocks` blocks; (frozen trunk or None, top to train, unfrozen names).
    The top shares its layers with base_model, so training it changes base_model."""
    parts = keras_base(backbone)
    unfrozen = set(parts.last_block_layers(n_blocks))
    base_model.trainable = True
    for layer in base_model.layers:
        layer.trainable = layer.name in unfrozen
    trunk, top = parts.split(base_model, n_blocks)
    return trunk, top, unfrozen


def fine_tune_top(head: FaceHead, top, features: np.ndarray, names: Sequence[str], groups: np.ndarray,
                  is_original: np.ndarray, epochs: int = 10, learning_rate: float = FINE_TUNE_LEARNING_RATE,
                  batch_size: int = 8) -> dict[str, Any]:
    """Train `top` (the unfrozen part of a backbone, from `prepare_fine_tuning`) with the head on its input
    `features`, then recompute the head's centroids from the rows marked `is_original` (not augmented)."""
    keras = _keras()
    inputs = keras.Input(shape=features.shape[1:], name="features")
    embedding = keras.layers.UnitNormalization(name="l2_normalise")(top(inputs, training=False))  # BN: inference
    full = keras.Model(inputs, head.model_(embedding), name="facerec_fine_tuned")
    labels = np.searchsorted(head.classes_, np.asarray([str(n) for n in names]))
    saved_batch = head.batch_size
    head.batch_size = batch_size
    try:
        metrics = head._train(full, features, labels, np.asarray(groups), epochs,
                              patience=max(2, min(head.patience, epochs // 3)), learning_rate=learning_rate)
    finally:
        head.batch_size = saved_batch
    embeddings = l2_normalise(top.predict(features[is_original], batch_size=32, verbose=0))
    head.centroids_ = head._centroids(embeddings, labels[is_original])
    metrics["learning_rate"] = learning_rate
    head.metrics_["fine_tune"] = metrics
    return metrics


def photo_chips(photos: Sequence[TrainingPhoto], backbone) -> tuple[np.ndarray, list[str], list[int]]:
    """Aligned chips of the photos that can still be read (for fine-tuning)."""
    chips, names, index = [], [], []
    for i, photo in enumerate(photos):
        chip = _photo_chip(photo, backbone)
        if chip is not None:
            chips.append(chip)
            names.append(photo.person)
            index.append(i)
    if not chips:
        raise FacerecError("none of the enrolled photos can be read any more, so fine-tuning has nothing to train on")
    return np.stack(chips), names, index


# --------------------------------------------------------------------------------------------------
# From the gallery, in one call
# --------------------------------------------------------------------------------------------------


def _backbone_name(pipeline_or_backbone) -> str:
    candidate = getattr(pipeline_or_backbone, "backbone", pipeline_or_backbone)
    return candidate if isinstance(candidate, str) else candidate.name


def _embedding_key(pipeline_or_backbone, name: str) -> str:
    """The gallery key of the stored embeddings to learn from: the pipeline's, else the backbone's default."""
    from facerec.backbones import embedding_id

    return getattr(pipeline_or_backbone, "embedding_id", None) or embedding_id(name)


def _resolve_backbone(pipeline_or_backbone, weights: str | Path | None = None):
    """The Backbone object (built only when photos must be embedded again: augmentation, fine-tuning)."""
    candidate = getattr(pipeline_or_backbone, "backbone", pipeline_or_backbone)
    if isinstance(candidate, str):
        from facerec.backbones import get_backbone

        return get_backbone(candidate, weights)
    return candidate


def train_from_gallery(gallery, pipeline_or_backbone, augment: bool | Sequence[str] = False,
                       fine_tune_blocks: int = 0, epochs: int = 200, fine_tune_epochs: int = 10,
                       cache: BottleneckCache | None = None, weights: str | Path | None = None,
                       progress: bool = False, embedding: str | None = None, **head_options: Any) -> FaceHead:
    """Train a head on everyone enrolled in the gallery for the backbone (a FacePipeline, a Backbone or a
    name); the head is returned, not saved (call .save(): it goes beside the gallery). `embedding`: the
    gallery key of the stored embeddings to learn from (default: the pipeline's, else the backbone's
    default recipe). `cache`: the bottleneck cache (default: beside the gallery).

    Without augmentation the head learns from the stored gallery embeddings directly (they are the
    frozen base's bottleneck features), and the backbone is not even loaded; photos are read again
    only to augment or to fine-tune.
    """
    name = _backbone_name(pipeline_or_backbone)
    if fine_tune_blocks:
        check_fine_tunable(name)  # fail before minutes of training, not after
    key = embedding or _embedding_key(pipeline_or_backbone, name)
    photos = gallery_training_photos(gallery, key)
    people = {p.person for p in photos}
    if len(people) < 2:
        raise FacerecError(f"training a head needs at least 2 people enrolled with backbone {name} "
                           f"(found {len(people)}); run `facerec enroll PEOPLE_DIR --backbone {name}`")
    variants = resolve_variants(augment)
    backbone = _resolve_backbone(pipeline_or_backbone, weights) if (variants != [ORIGINAL] or fine_tune_blocks) else None
    if backbone is None:
        X = np.stack([p.embedding for p in photos]).astype(np.float32)
        names, groups = [p.person for p in photos], np.arange(len(photos))
    else:
        cache = cache or BottleneckCache(bottleneck_cache_dir(gallery.path))
        X, names, groups = bottleneck_features(photos, backbone, variants, cache, progress)
    head = FaceHead(backbone=name, epochs=epochs, **head_options)
    head.fit(X, names, groups=groups)
    head.gallery_, head.embedding_ = str(Path(gallery.path).resolve()), key
    head.augmentations_ = variants
    if fine_tune_blocks:
        warn_if_too_few_photos_to_fine_tune(photos)
        chips, chip_names, index = photo_chips(photos, backbone)
        base = getattr(backbone, "model", None)
        fine_tune(head, chips, chip_names, fine_tune_blocks, base_model=_copy_model(base) if base is not None else None,
                  weights=weights, epochs=fine_tune_epochs, groups=index)
    return head


def warn_if_too_few_photos_to_fine_tune(photos: Sequence[TrainingPhoto]) -> bool:
    """Warn (and say True) when someone has no more photos than the measurement in which fine-tuning did not help."""
    counts: dict[str, int] = {}
    for photo in photos:
        counts[photo.person] = counts.get(photo.person, 0) + 1
    fewest = min(counts.values())
    if fewest > FINE_TUNE_MEASURED_UP_TO_PHOTOS:
        return False
    log.warning("fine-tuning with %d photo(s) for some person: on LFW with 1-5 photos per person it did not "
                "improve naming over a head on the frozen embeddings and turned 16-90 %% of known faces `unknown` "
                "(README, \"dlib's ResNet in Keras\"); consider dropping --fine-tune-blocks", fewest)
    return True


def _copy_model(model):
    """A trainable copy of a backbone's Keras model, so fine-tuning never changes the shared backbone."""
    keras = _keras()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone
