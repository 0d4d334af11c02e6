"""The ``respira`` command line (also ``python -m respira`` and ``accelerate launch -m respira``).

Sub-commands live in :mod:`respira.commands`. Errors are one clear line on stderr (exit code 2);
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import register_all


class CommandLineError(Exception):
    """A command line argparse refuses (unknown command, missing or malformed value): one line, no usage."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and, through ``add_subparsers``, every command's) that raises its errors."""

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="respira", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"respira {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    register_all(commands)
    for command in commands.choices.values():  # `respira CMD ... --debug` works too
        if "--debug" not in command._option_string_actions:
            command.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,
                help="show full tracebacks on errors",
            )
    return parser


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HYPHEN_ALIAS = re.compile(r"(--\w+)/--[\w-]+")  # "--learning_rate/--learning-rate" → "--learning_rate"


def _one_line(error: BaseException) -> str:
    """An error's message on one line, without terminal colour codes (its type name when it has none)."""
    return " ".join(_ANSI_CODES.sub("", str(error)).split()) or type(error).__name__


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 error, 130 interrupted, or the command's own code)."""
    warnings.formatwarning = _one_line_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except CommandLineError as error:
        message = _HYPHEN_ALIAS.sub(r"\1", _one_line(error))
        print(f"{error.prog}: error: {message} (see {error.prog} --help)", file=sys.stderr)
        return 2
    except SystemExit as exit:  # --help, --version
        return exit.code if isinstance(exit.code, int) else 0
    args.overrides = extra
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("once")
            code = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"respira {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
