"""Writing files so that a crash never leaves half of one: temporary file beside it, then rename."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

PRIVATE = 0o600  # biometric data: embeddings, centroids, galleries
PUBLIC = 0o644  # annotated copies, sidecars, reports


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (weights files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents as 0700, whatever the umask; leave existing folders alone."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(d, 0o700)  # mkdir's mode is filtered by the umask


def atomic_write(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    """Write `data` to `path` atomically. `mode` defaults to the existing file's mode, else PUBLIC."""
    path = Path(path)
    if mode is None:
        mode = (path.stat().st_mode & 0o777) if path.exists() else PUBLIC
    return atomic_save(path, lambda tmp: tmp.write_bytes(data), mode)


def atomic_save(path: str | Path, save: Callable[[Path], object], mode: int = PRIVATE) -> Path:
    """Atomically write `path` with a library's own saver (`save(temporary_path)`, e.g. Keras model.save):
    the temporary file keeps the name's suffixes (Keras checks them) and gets `mode` before it replaces `path`."""
    path = Path(path)
    if mode & 0o077 == 0:
        make_private_dirs(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, mode)  # before the saver writes anything into it
        save(Path(tmp))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            # a failed write (disk full) names no file: name the one that was not written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    return path


def atomic_write_text(path: str | Path, text: str, mode: int | None = None) -> Path:
    return atomic_write(path, text.encode("utf-8"), mode)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting like a formula gets a leading
    apostrophe (OWASP's advice); numbers are left as they are; None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
