"""Errors with messages meant for people, and the exit codes the CLI maps them to."""
from __future__ import annotations

# Exit codes every command shares (documented in `facerec --help`).
EXIT_OK = 0
EXIT_NEGATIVE = 1  # the command worked and the answer is "no": verify says different, identify found nobody known
EXIT_USAGE = 2  # bad arguments (argparse uses 2 too)
EXIT_BAD_INPUT = 3  # no input yields a face: no face, an unreadable image, a missing file (some good inputs: 0 or 1)
EXIT_MISSING_MODEL = 4  # weights, a trained head or an optional extra are not installed
EXIT_INTERRUPTED = 130


class FacerecError(Exception):
    """Base class: str(error) is a complete message for the user."""

    exit_code = 1


class UsageError(FacerecError):
    """Arguments that parse but do not go together."""

    exit_code = EXIT_USAGE


class InputError(FacerecError):
    """An input path is missing or is not what the command needs (a folder that does not exist)."""

    exit_code = EXIT_BAD_INPUT


class ImageError(FacerecError):
    """An input could not be decoded as an image (corrupt, truncated, empty, not an image, too large)."""

    exit_code = EXIT_BAD_INPUT


class NoFaceError(FacerecError):
    exit_code = EXIT_BAD_INPUT


class WeightsError(FacerecError):
    """Weights are missing, cannot be downloaded, or do not match the network."""

    exit_code = EXIT_MISSING_MODEL


class MissingExtraError(FacerecError):
    exit_code = EXIT_MISSING_MODEL


class GalleryError(FacerecError):
    pass
