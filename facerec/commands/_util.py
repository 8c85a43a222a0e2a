"""Small helpers shared by the subcommands: output formatting and building the pipeline from args."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], file=None) -> None:
    """Plain aligned columns (no dependency), readable in a terminal and easy to grep."""
    rows = [[format_cell(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = file or sys.stdout
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=out)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)


def format_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def pipeline_from_args(args, **kwargs):
    """FacePipeline for the shared --backbone / --weights options (and --min-face-size when the command has it)."""
    from facerec.pipeline import FacePipeline

    min_face = getattr(args, "min_face_size", None)
    if min_face is not None:
        kwargs.setdefault("min_face_size", min_face)
    kwargs.setdefault("flip", getattr(args, "flip", None))
    return FacePipeline(args.backbone, weights=args.weights, **kwargs)


def progress_enabled(args) -> bool:
    return not args.quiet and not args.json and sys.stderr.isatty()
