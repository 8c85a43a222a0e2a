"""Small helpers shared by the subcommands: output formatting and building the pipeline from args."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Callable

from facerec.names import is_utf8
from facerec.cli.tables import print_table  # noqa: F401 - the commands import it from here


def print_json(obj: Any) -> None:
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    if not is_utf8(text):  # a file name that is not UTF-8: \udcNN escapes keep the JSON valid and printable
        text = json.dumps(obj, indent=2, ensure_ascii=True, default=str)
    sys.stdout.write(text + "\n")


# --------------------------------------------------------------------------- range-checked option types


def number_in(kind: type, low: float | None = None, high: float | None = None, *,
              low_open: bool = False) -> Callable[[str], Any]:
    """An argparse `type` that parses `kind` (int or float) and refuses NaN, infinities and values outside
    [low, high] ((low, high] with low_open) with a usage error (exit 2) that states the range."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range: expected {describe_range(low, high, low_open)}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def describe_range(low: float | None, high: float | None, low_open: bool) -> str:
    if high is None:
        return f"{'more than' if low_open else 'at least'} {low}"
    if low is None:
        return f"at most {high}"
    return f"{'more than ' + str(low) + ' and at most' if low_open else 'from ' + str(low) + ' to'} {high}"


DISTANCE = number_in(float, 0.0, 2.0)  # cosine distance between unit vectors
PROBABILITY = number_in(float, 0.0, 1.0)
RATE = number_in(float, 0.0, 1.0, low_open=True)  # a false-accept rate: 0 cannot be measured
PIXELS = number_in(int, 1, 100_000)  # a face size in pixels
COUNT = number_in(int, 1)  # at least one
NON_NEGATIVE = number_in(int, 0)
SEED = number_in(int, 0, 2**32 - 1)  # numpy's seed range


def add_min_face_size(p: argparse.ArgumentParser) -> None:
    """--min-face-size, as the commands that detect in photos take it."""
    p.add_argument("--min-face-size", type=PIXELS, default=20, metavar="PX", help="smallest face in pixels (default: 20)")


def pipeline_from_args(args, **kwargs):
    """FacePipeline for the shared --backbone / --detector / --weights options (and --min-face-size when the command
    has it)."""
    from facerec import errors
    from facerec.recognition.pipeline import build_pipeline

    from facerec.backbones import REGISTRY, entry

    if args.weights is not None and not entry(args.backbone).weights_file:
        # e.g. dlib's weights come with its wheel; silently ignoring the file would test something else
        takes = ", ".join(name for name, spec in REGISTRY.items() if spec.weights_file)
        raise errors.UsageError(f"--weights is for the backbones that load a weights file ({takes}); the "
                                f"{args.backbone} backbone uses the model installed with it")
    min_face = getattr(args, "min_face_size", None)
    if min_face is not None:
        kwargs.setdefault("min_face_size", min_face)
    kwargs.setdefault("flip", getattr(args, "flip", None))
    kwargs.setdefault("detector", getattr(args, "detector", None))
    return build_pipeline(args.backbone, weights=args.weights, **kwargs)


def exit_for_inputs(faces_per_input: list[int], answer: int = 0) -> int:
    """The exit code of a command over several inputs: 3 when no input gave a face (none found, unreadable or
    missing: each already named on stderr), else `answer` (0, or 1 for a negative answer)."""
    from facerec import errors

    return answer if any(faces_per_input) else errors.EXIT_BAD_INPUT


def report_input_problem(message: str) -> None:
    """One input that gave no face, named on stderr; the run goes on with the others."""
    from facerec.names import printable

    print(f"facerec: {printable(message)}", file=sys.stderr)


def progress_enabled(args) -> bool:
    return not args.quiet and not args.json and sys.stderr.isatty()
