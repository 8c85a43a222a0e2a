"""One module per CLI subcommand. Each exposes `register(subparsers, common)` and sets `func` on its parser.

`common` is a list of parent parsers carrying the options every command shares
(--backbone, --gallery, --weights, --json, -v/-q); pass it as `parents=common`.
The command's `func(args) -> int` returns the exit code (see facerec.errors).
"""

# Order here is the order in `facerec --help`.
COMMAND_MODULES = [
    "detect", "verify", "info",  # recognition core
    "enroll", "people", "forget", "identify", "train", "evaluate", "calibrate",  # gallery & identification
    "tag", "clusters", "name",  # album tagging
    "faces", "confirm", "reject", "undo",  # review decisions
    "rename", "merge", "hide", "unhide", "cover", "move",  # person-level review decisions
    "webcam",  # live video
    "serve",  # HTTP server
]
