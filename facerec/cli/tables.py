"""Plain aligned text tables for the terminal, used by the commands and the scripts/ benchmarks."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from facerec.names import printable


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], file=None) -> None:
    """Plain aligned columns (no dependency), readable in a terminal and easy to grep."""
    rows = [[format_cell(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = file or sys.stdout
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=out)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip(), file=out)


def format_cell(value: Any) -> str:
    """A table cell: floats to 4 places; control characters and undecodable bytes escaped, so a file
    or person name can neither garble the terminal nor crash the output."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else printable(str(value))
