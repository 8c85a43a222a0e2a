"""Where the published VGGFace / VGGFace2 weights live, how to get them, and how to load them safely.

The weights are keras-vggface's v2.0 release files (Keras 2 HDF5 format, saved from models whose
layer names contain '/', e.g. ``conv1/7x7_s2/bn``). Keras 3 forbids '/' in layer names, so our
networks use ``__`` instead and `load_vggface_weights` maps every file layer to exactly one model
layer through that explicit rule. Nothing is loaded "by name, skipping what does not match": a file
that does not fit the network is an error that names the layers at fault.

This module does not import Keras at import time, so `facerec info` can report weights cheaply.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facerec import paths
from facerec.errors import WeightsError
from facerec.files.atomic import file_sha256
from facerec.paths import ENV_OFFLINE, ENV_WEIGHTS_DIR, facerec_home, keras_vggface_cache_dir, weights_cache_dir

log = logging.getLogger(__name__)

NETWORKS: tuple[str, ...] = ("vgg16", "resnet50", "senet50")

RELEASE_URL = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0"

# Which file the embedding network needs: vgg16's descriptor is fc7, so it needs the file with the top;
# resnet50/senet50 embed with the pooled 2048-d features, which the (smaller) notop files hold.
EMBEDDING_INCLUDES_TOP: dict[str, bool] = {"vgg16": True, "resnet50": False, "senet50": False}

# Original names use '/', which Keras 3 rejects; '__' never occurs in the original names, so the
# mapping is reversible.
NAME_SEPARATOR = "__"


SHA256_REGISTRY_NAME = "weights.sha256.json"

# Read through this module's global so tests can point it elsewhere.
REPO_MODELS_DIR = paths.REPO_MODELS_DIR

DownloadFn = Callable[[str, str, Path], "str | Path"]


# --------------------------------------------------------------------------------------------- names

def keras_layer_name(original: str) -> str:
    """keras-vggface layer name ('conv1/7x7_s2/bn') -> our Keras 3 layer name ('conv1__7x7_s2__bn')."""
    return original.replace("/", NAME_SEPARATOR)


def original_layer_name(keras_name: str) -> str:
    """Inverse of `keras_layer_name`."""
    return keras_name.replace(NAME_SEPARATOR, "/")


def check_network(name: str) -> str:
    if name not in NETWORKS:
        raise ValueError(f"unknown VGGFace network {name!r}; choose one of {', '.join(NETWORKS)}")
    return name


def weights_filename(name: str, include_top: bool) -> str:
    check_network(name)
    return f"rcmalli_vggface_tf_{'' if include_top else 'notop_'}{name}.h5"


def weights_url(name: str, include_top: bool) -> str:
    return f"{RELEASE_URL}/{weights_filename(name, include_top)}"


PUBLISHED_FILENAMES: frozenset[str] = frozenset(
    weights_filename(n, top) for n in NETWORKS for top in (True, False)
)


# ----------------------------------------------------------------------------------------- folders

def search_dirs() -> list[Path]:
    """Folders searched for a weights file, in order (before any download)."""
    dirs: list[Path] = []
    by_hand = paths.weights_dir_from_env()
    if by_hand is not None:
        dirs.append(by_hand)
    dirs += [weights_cache_dir(), facerec_home(), REPO_MODELS_DIR, REPO_MODELS_DIR / "weights",
             keras_vggface_cache_dir()]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_local_weights(filename: str) -> Path | None:
    for folder in search_dirs():
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------------------- resolving

def keras_download(filename: str, url: str, dest_dir: Path) -> Path:
    """Download with keras.utils.get_file into dest_dir (it writes to a temp file and renames)."""
    import keras

    dest_dir.mkdir(parents=True, exist_ok=True)
    path = keras.utils.get_file(filename, origin=url, cache_dir=str(dest_dir.parent), cache_subdir=dest_dir.name)
    return Path(path)


def missing_weights_message(name: str, include_top: bool, reason: str) -> str:
    filename = weights_filename(name, include_top)
    destination = weights_cache_dir() / filename
    return (
        f"The {name} weights ({filename}) are not on this machine and could not be downloaded: {reason}\n"
        f"Download\n  {weights_url(name, include_top)}\n"
        f"on a machine with internet access and put it at\n  {destination}\n"
        f"or pass the file with --weights PATH, or put it in a folder named by the {ENV_WEIGHTS_DIR} "
        f"environment variable."
    )


def resolve_weights(
    name: str,
    include_top: bool,
    weights_path: str | Path | None = None,
    *,
    download: DownloadFn | None = None,
) -> Path:
    """Path of the weights file for network `name`.

    Order: `weights_path` (a file, or a folder holding the published file name); FACEREC_WEIGHTS_DIR;
    the weights cache (<FACEREC_HOME or user cache>/weights), FACEREC_HOME itself, the repo's models/
    (and models/weights/), keras-vggface's own cache (~/.keras/models/vggface); else download into the
    weights cache. Raises WeightsError, saying what to download and where to put it, when that fails.
    """
    filename = weights_filename(name, include_top)
    if weights_path is not None:
        return explicit_weights_path(Path(weights_path).expanduser(), filename)
    found = find_local_weights(filename)
    if found is not None:
        return found
    if paths.offline():
        raise WeightsError(missing_weights_message(name, include_top, f"downloads are disabled ({ENV_OFFLINE} is set)"))
    try:
        path = Path((download or keras_download)(filename, weights_url(name, include_top), weights_cache_dir()))
    except Exception as error:  # any failure (DNS, HTTP, disk) gets the same actionable message
        raise WeightsError(missing_weights_message(name, include_top, f"{type(error).__name__}: {error}")) from error
    if not path.is_file():
        raise WeightsError(missing_weights_message(name, include_top, f"the download left no file at {path}"))
    return path


def explicit_weights_path(path: Path, filename: str) -> Path:
    if path.is_dir():
        path = path / filename
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    return path


def weights_status() -> list[dict[str, Any]]:
    """For `facerec info`: every published file, whether the embedding uses it, and where it is (if anywhere)."""
    rows = []
    for name in NETWORKS:
        for include_top in (True, False):
            filename = weights_filename(name, include_top)
            found = find_local_weights(filename)
            rows.append({
                "backbone": name,
                "include_top": include_top,
                "variant": "top" if include_top else "notop",
                "used_for_embedding": EMBEDDING_INCLUDES_TOP[name] == include_top,
                "file": filename,
                "url": weights_url(name, include_top),
                "present": found is not None,
                "path": str(found) if found else None,
                "download_to": str(weights_cache_dir() / filename),
            })
    return rows


def status_of(name: str) -> list[dict[str, Any]]:
    """The registry's status hook: the files of one VGGFace network, as `facerec info` lists them."""
    return [{"variant": row["variant"], "present": row["present"], "weights": row["path"] or row["url"],
             "used_for_embedding": row["used_for_embedding"]} for row in weights_status() if row["backbone"] == name]


# ------------------------------------------------------------------------------------------ sha256

def sha256_registry_path() -> Path:
    return weights_cache_dir() / SHA256_REGISTRY_NAME


def read_sha256_registry() -> dict[str, str]:
    path = sha256_registry_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable %s: %s", path, error)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def record_sha256(filename: str, sha: str) -> None:
    """Remember a published file's hash; failing to write (read-only cache) only costs the check."""
    registry = read_sha256_registry()
    registry[filename] = sha
    path = sha256_registry_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as error:
        log.warning("could not record the sha256 of %s in %s: %s", filename, path, error)


def check_recorded_sha256(path: Path) -> str | None:
    """sha256 of a published weights file, after checking it against the one recorded on its first load.

    Only the published file names are tracked: they never change, so a different hash means a
    corrupt or replaced file. Your own .h5 files (fine-tuned, renamed) are not tracked.
    """
    if path.name not in PUBLISHED_FILENAMES:
        return None
    sha = file_sha256(path)
    recorded = read_sha256_registry().get(path.name)
    if recorded is not None and recorded != sha:
        raise WeightsError(
            f"{path} has changed since it was first loaded (sha256 {sha}, recorded {recorded} in "
            f"{sha256_registry_path()}): the file is corrupt or was replaced. Delete it and download it again "
            f"from {RELEASE_URL}/{path.name}"
        )
    return sha


# ----------------------------------------------------------------------------------------- loading

@dataclass
class FileLayer:
    """One layer of a Keras 2 HDF5 weights file: its original name and its weight datasets, in order."""

    name: str
    weight_names: list[str]
    datasets: list[Any]  # h5py.Dataset, read only after every layer has been matched


def read_string_list_attr(group: Any, attr: str) -> list[str]:
    """A Keras 2 string-list attribute, including the chunked form (attr0, attr1, ...) used for long lists."""
    if attr in group.attrs:
        values = list(group.attrs[attr])
    else:
        values, chunk = [], 0
        while f"{attr}{chunk}" in group.attrs:
            values.extend(group.attrs[f"{attr}{chunk}"])
            chunk += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def weights_root(h5file: Any, path: Path) -> Any:
    if "layer_names" in h5file.attrs or "layer_names0" in h5file.attrs:
        return h5file
    if "model_weights" in h5file:  # a full-model save (model.save): weights live in this group
        return h5file["model_weights"]
    raise WeightsError(
        f"{path} is not a Keras 2 HDF5 weights file (no 'layer_names' attribute); expected one of the "
        f"keras-vggface files from {RELEASE_URL}"
    )


def iter_file_layers(root: Any) -> Iterator[FileLayer]:
    """Layers that hold weights, in file order ('conv1/7x7_s2' is a nested group path in HDF5)."""
    for layer_name in read_string_list_attr(root, "layer_names"):
        group = root[layer_name]
        weight_names = read_string_list_attr(group, "weight_names")
        if weight_names:
            yield FileLayer(layer_name, weight_names, [group[w] for w in weight_names])


def short_weight_name(weight_name: str) -> str:
    """'conv1/7x7_s2/bn/gamma:0' -> 'gamma' (Keras 3 variables are named like that)."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


def order_file_weights(file_layer: FileLayer, variables: list[Any]) -> list[Any]:
    """File datasets in the order of the layer's variables: by short name when they all agree, else file order."""
    by_name = {short_weight_name(w): d for w, d in zip(file_layer.weight_names, file_layer.datasets)}
    if len(by_name) == len(variables) and all(v.name in by_name for v in variables):
        return [by_name[v.name] for v in variables]
    return list(file_layer.datasets)


def weighted_layers(model: Any) -> dict[str, Any]:
    return {layer.name: layer for layer in model.layers if layer.weights}


def match_file_to_model(model: Any, file_layers: list[FileLayer], path: Path) -> list[tuple[Any, Any]]:
    """(variable, dataset) pairs for the whole model, or WeightsError naming every layer that does not fit."""
    model_layers = weighted_layers(model)
    pairs: list[tuple[Any, Any]] = []
    extra: list[str] = []
    mismatched: list[str] = []
    matched: set[str] = set()
    for file_layer in file_layers:
        ours = keras_layer_name(file_layer.name)
        layer = model_layers.get(ours)
        if layer is None or ours in matched:
            extra.append(file_layer.name)
            continue
        matched.add(ours)
        variables = list(layer.weights)
        datasets = order_file_weights(file_layer, variables)
        if len(datasets) != len(variables):
            mismatched.append(f"{file_layer.name}: file has {len(datasets)} weights, model layer {ours} has {len(variables)}")
            continue
        for variable, dataset in zip(variables, datasets):
            if tuple(dataset.shape) != tuple(variable.shape):
                mismatched.append(
                    f"{file_layer.name}/{short_weight_name(dataset.name)}: file shape {tuple(dataset.shape)}, "
                    f"model {variable.path} shape {tuple(variable.shape)}"
                )
            else:
                pairs.append((variable, dataset))
    missing = [original_layer_name(n) for n in model_layers if n not in matched]
    if extra or missing or mismatched:
        raise WeightsError(mismatch_message(model, path, extra, missing, mismatched))
    return pairs


def mismatch_message(model: Any, path: Path, extra: list[str], missing: list[str], mismatched: list[str]) -> str:
    def listing(items: list[str], limit: int = 12) -> str:
        shown = ", ".join(items[:limit])
        return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

    lines = [f"the weights file {path} does not fit the network {model.name}:"]
    if extra:
        lines.append(f"  layers in the file that the network does not have ({len(extra)}): {listing(extra)}")
    if missing:
        lines.append(f"  network layers the file has no weights for ({len(missing)}): {listing(missing)}")
    if mismatched:
        lines.append(f"  weights with the wrong shape or count ({len(mismatched)}): {listing(mismatched, 6)}")
    lines.append("Check that the file matches the backbone (and include_top / input size), or download it again.")
    return "\n".join(lines)


def refuse_non_finite(values: list[tuple[Any, Any]], path: Path) -> None:
    """A file whose weights hold NaN or infinities loads "fine" and then embeds every face as NaN."""
    import numpy as np

    bad = [variable.path for variable, value in values
           if np.issubdtype(np.asarray(value).dtype, np.floating) and not np.all(np.isfinite(value))]
    if bad:
        shown = ", ".join(bad[:6]) + (f", ... ({len(bad) - 6} more)" if len(bad) > 6 else "")
        raise WeightsError(f"{path} holds NaN or infinite weights ({shown}): the file is corrupt; delete it and "
                           f"download it again from {RELEASE_URL}/{path.name}")


def load_vggface_weights(model: Any, h5_path: str | Path) -> Path:
    """Load a keras-vggface (Keras 2 HDF5) weights file into `model`, all or nothing.

    Every file layer with weights must map (original name with '/' -> '__') to exactly one model
    layer with the same number of weights of the same shapes, and every model layer with weights
    must receive some; otherwise WeightsError names the offenders and the model is left untouched.
    Weights holding NaN or infinities are refused the same way. Published files are checked against the
    sha256 recorded on their first successful load (keras-vggface publishes no checksums to pin).
    """
    import h5py

    path = Path(h5_path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    sha = check_recorded_sha256(path)
    try:
        with h5py.File(path, "r") as h5file:
            root = weights_root(h5file, path)
            pairs = match_file_to_model(model, list(iter_file_layers(root)), path)
            values = [(variable, dataset[()]) for variable, dataset in pairs]
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise WeightsError(
            f"cannot read {path} as a Keras 2 HDF5 weights file ({error}); it may be truncated or corrupt: "
            f"delete it and download it again"
        ) from error
    refuse_non_finite(values, path)
    for variable, value in values:  # only after everything was read, so a failure leaves the model as it was
        variable.assign(value.astype(variable.dtype, copy=False))
    if sha is not None and path.name not in read_sha256_registry():
        record_sha256(path.name, sha)
    return path
