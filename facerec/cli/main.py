"""`facerec` command line: shared options, logging, error → exit-code mapping; subcommands live in facerec.cli.commands."""
from __future__ import annotations

import argparse
import difflib
import importlib
import json
import logging
import re
import sys
from pathlib import Path

from facerec import errors
from facerec.cli.commands import COMMAND_MODULES
from facerec.names import printable
from facerec.paths import ENVIRONMENT, default_gallery_path
from facerec.quiet import hide_tensorflow_startup_lines, show_tensorflow_log

EPILOG = """exit codes: 0 ok · 1 a negative answer (verify: different people; identify: faces found, nobody known) or
a failure (gallery, output) · 2 usage error · 3 no input gave a face (no face, an unreadable or missing file; with
several inputs, only when none did: the others are reported and the problem ones listed) · 4 missing weights,
head or optional extra · 130 interrupted

the common options (--backbone, --detector, --weights, --gallery, --no-flip, --json, -v, -q) go before or after the command

environment: """ + ", ".join(f"{name} ({meaning})" for name, meaning in ENVIRONMENT.items()) + """
trained heads live beside the gallery, in <gallery stem>-heads/"""


def common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    from facerec.backbones import BACKBONE_NAMES

    g.add_argument("--backbone", default=None, type=str.lower,
                   help=f"embedding network: {', '.join(BACKBONE_NAMES)} (default: FACEREC_BACKBONE, else dlib "
                   "when the dlib extra is installed, else resnet50)")
    from facerec.detectors import DETECTOR_NAMES

    g.add_argument("--detector", default=None, type=str.lower, metavar="NAME",
                   help=f"face detector: {', '.join(DETECTOR_NAMES)} (default: FACEREC_DETECTOR, else mtcnn); part of "
                   "the gallery's key for embeddings, like --backbone")
    g.add_argument("--weights", type=Path, default=None, metavar="PATH",
                   help="weights .h5 file for a VGGFace backbone (for machines that cannot download)")
    g.add_argument("--gallery", type=Path, default=None, metavar="PATH",
                   help="gallery SQLite file (default: FACEREC_GALLERY or %s)" % "<user data dir>/facerec/gallery.sqlite")
    g.add_argument("--no-flip", dest="flip", action="store_false", default=None,
                   help="embed each face once instead of averaging it with its mirror image (faster, slightly "
                   "less accurate; the gallery keeps such embeddings apart)")
    g.add_argument("--json", action="store_true", help="machine-readable JSON output on stdout")
    g.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    g.add_argument("-q", "--quiet", action="store_true", help="only errors; no progress bars")
    return p


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for a mistyped option, command or choice (the subcommands' parsers too)."""

    def error(self, message: str):  # type: ignore[override]
        super().error(message + did_you_mean(self, message))


def did_you_mean(parser: argparse.ArgumentParser, message: str) -> str:
    """A hint for the closest known spelling of each unknown option or invalid choice in argparse's `message`."""
    wrong = re.search(r"invalid choice: '([^']*)'", message)
    if wrong:
        known = re.findall(r"'([^']*)'", message.split("choose from", 1)[-1])
        guesses = difflib.get_close_matches(wrong.group(1), known, n=1, cutoff=0.6)
    elif message.startswith("unrecognized arguments:"):
        options = [o for o in parser._option_string_actions if o.startswith("--")]
        guesses = [g for token in message.split(":", 1)[1].split() if token.startswith("--")
                   for g in difflib.get_close_matches(token.split("=", 1)[0], options, n=1, cutoff=0.6)]
    else:
        return ""
    return f" (did you mean {' or '.join(dict.fromkeys(guesses))}?)" if guesses else ""


def global_options_after_command(argv: list[str]) -> list[str]:
    """`facerec -v --gallery g.sqlite detect x.jpg` as `facerec detect -v --gallery g.sqlite x.jpg`: the common
    options may come before the command too. Anything else before the command is left for argparse to refuse."""
    actions = common_parser()._actions
    takes_value = {o for a in actions for o in a.option_strings if a.nargs != 0}
    flags = {o for a in actions for o in a.option_strings if a.nargs == 0}
    moved, i = [], 0
    while i < len(argv) and argv[i] not in COMMAND_MODULES:
        token = argv[i]
        if token.split("=", 1)[0] in takes_value:
            step = 1 if "=" in token else 2
        elif token in flags or re.fullmatch(r"-v+", token):
            step = 1
        else:
            return argv
        moved += argv[i:i + step]
        i += step
    if not moved or i >= len(argv):
        return argv
    return [argv[i], *moved, *argv[i + 1:]]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="facerec",
        description="Face recognition: detect (MTCNN), align, embed (VGGFace/VGGFace2 or dlib), enroll people, "
        "identify faces in photos, albums and live video.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from facerec import __version__

    parser.add_argument("--version", action="version", version=f"facerec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [common_parser()]
    for name in COMMAND_MODULES:
        importlib.import_module(f"facerec.cli.commands.{name}").register(sub, common)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose >= 2:  # TensorFlow's start-up lines are noise for users unless they asked for debug output
        show_tensorflow_log()


def main(argv: list[str] | None = None) -> int:
    hide_tensorflow_startup_lines()  # before anything can import TensorFlow
    return run_command(argv)


def run_command(argv: list[str] | None) -> int:
    parser = build_parser()
    argv = global_options_after_command(list(sys.argv[1:] if argv is None else argv))
    args, extras = parser.parse_known_args(argv)
    if extras:  # refused by the command's own parser: its usage line and its options' spellings
        command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extras)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return errors.EXIT_USAGE
    setup_logging(args.verbose, args.quiet)
    if args.gallery is None:
        args.gallery = default_gallery_path()
    if args.backbone is None:
        from facerec.backbones import default_backbone

        args.backbone = default_backbone()
    from facerec.backbones import embedding_id

    try:
        if args.detector is None:
            from facerec.detectors import default_detector

            args.detector = default_detector()
        from facerec.detectors import entry as detector_entry

        detector_entry(args.detector)  # an unknown name: a usage error before any work
        # The gallery key of this run's embeddings (backbone, alignment, flip, detector): every gallery lookup uses it.
        args.embedding = embedding_id(args.backbone, args.flip, args.detector)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except errors.FacerecError as e:
        return report_error(args, message_of(e), type(e).__name__, e.exit_code)
    except OSError as e:  # disk full, permissions on an output: a message, not a traceback
        where = f"{printable(str(e.filename))}: " if e.filename else ""
        return report_error(args, f"{where}{e.strerror or e}", type(e).__name__, 1)


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices.get(getattr(args, "command", None) or "", parser)


def message_of(error: BaseException) -> str:
    """An error's text for the terminal: its lines kept (a message may list a URL on a line of its own), each one
    made printable (no terminal escapes from a file name)."""
    return "\n".join(printable(line) for line in str(error).splitlines())


def report_error(args, message: str, kind: str, exit_code: int) -> int:
    if args.json:
        print(json.dumps({"error": message, "type": kind}))
    print(f"facerec: error: {message}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
