"""facerec unhide NAME — list a hidden person again."""
from __future__ import annotations

from facerec.cli.commands._people import EXIT_CODES, NAME_RULE
from facerec.cli.commands.hide import register_hiding

DESCRIPTION = f"""Show NAME again in `facerec people` and the review page (see `facerec hide`).

{NAME_RULE}

examples:
  facerec unhide "Mail carrier"

{EXIT_CODES}"""


def register(sub, common) -> None:
    register_hiding(sub, common, "unhide", False, "list a hidden person again", DESCRIPTION,
                    lambda r: f"{r['person']} is listed again (step {r['step']})")
