"""The ``respira`` command line (sub-commands in :mod:`respira.commands`): errors are one line on stderr
(exit code 2), ``--debug`` shows the traceback."""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, NoReturn

from transformers import HfArgumentParser

from . import __version__
from .commands import LINES, register_all
from .measured import with_note
from .options import HYPHEN_ALIAS, unrecognized
from .utils.messages import one_line, run_warnings


class CommandLineError(Exception):
    """A command line argparse refuses: one line, no usage."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog

    def line(self) -> str:
        """``PROG: error: REASON (see PROG --help)``, each flag in one spelling."""
        reason = HYPHEN_ALIAS.sub(r"\1", one_line(self))
        return f"{self.prog}: error: {reason} (see {self.prog} --help)"


DESCRIPTION = (
    "respira: train, evaluate, run and share respiratory-sound classifiers (crackles and wheezes). "
    "Also python -m respira, and accelerate launch -m respira on several GPUs."
)


class _Parser(HfArgumentParser):
    """An ``HfArgumentParser`` that raises its errors, ends each option's help with its :mod:`.measured`
    note and keeps its options in :attr:`options`; ``recipe_fields``: dataclasses whose ``--field value``
    flags the command takes too (:attr:`field_names`)."""

    def __init__(self, dataclass_types: Any = None, *, recipe_fields: Sequence[type] = (), **kwargs: Any):
        self.options: dict[str, argparse.Action] = {}  # every option string, in the order added
        self.positionals: dict[str, argparse.Action] = {}
        self.commands: dict[str, argparse.ArgumentParser] = {}
        formatter = argparse.RawDescriptionHelpFormatter if "epilog" in kwargs else argparse.HelpFormatter
        kwargs.setdefault("formatter_class", formatter)  # not HfArgumentParser's; an epilog keeps its lines
        super().__init__(dataclass_types, **kwargs)
        self.field_names: set[str] = set()
        if recipe_fields:
            fields = _Parser(recipe_fields, add_help=False, conflict_handler="resolve")
            self.field_names = set(fields.options)
            self.options = {**fields.options, **self.options}

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        # one spelling: not also the --with-code HfArgumentParser adds (recipe fields' groups keep theirs)
        names = [
            name for name in args if "-" not in name[2:] or f"--{name[2:].replace('-', '_')}" not in args
        ]
        return self._known(super().add_argument(*names, **kwargs))

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Any:
        group = super().add_argument_group(*args, **kwargs)
        add = group.add_argument
        group.add_argument = lambda *names, **options: self._known(add(*names, **options))
        return group

    def _known(self, action: argparse.Action) -> argparse.Action:
        if action.help != argparse.SUPPRESS and action.dest != "help":
            action.help = with_note(action.dest, action.help)
        self.options.update(dict.fromkeys(action.option_strings, action))
        if not action.option_strings:
            self.positionals[action.dest] = action
        return action

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self.prog, message)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """``respira``'s parser; with ``commands``, only those commands get their options."""
    parser = _Parser(prog="respira", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"respira {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register_all(subparsers, commands)
    parser.commands = dict(subparsers.choices)
    for command in parser.commands.values():  # `respira CMD ... --debug` works too
        with contextlib.suppress(argparse.ArgumentError):  # a command with its own --debug keeps it
            command.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,
                help="show full tracebacks on errors",
            )
    return parser


def _unknown_options(command: argparse.ArgumentParser | None, argv: Sequence[str]) -> list[str]:
    if command is None:
        return []
    known, abbreviates = command.options, command.allow_abbrev
    names = (token.split("=", 1)[0] for token in argv if token.startswith("--") and token != "--")
    return [
        name
        for name in names
        if name not in known and not (abbreviates and any(option.startswith(name) for option in known))
    ]


def _recipe_first(command: argparse.ArgumentParser | None, argv: list[str]) -> list[str]:
    """``argv`` with a ``RECIPE.yaml`` after an optional-value flag (``--overwrite x.yaml``) or among the
    values of a many-valued one (``--data_dir A B x.yaml``) moved first."""
    if command is None or "recipe" not in command.positionals:
        return argv
    for index in range(1, len(argv)):
        start = index - 1
        while start > 0 and not argv[start].startswith("-"):
            start -= 1
        token, flag = argv[index], command.options.get(argv[start])
        takes = flag is not None and (flag.nargs == "+" or (flag.nargs == "?" and start == index - 1))
        if takes and token.lower().endswith((".yaml", ".yml")):
            position = argv.index(command.prog.split()[-1])
            return [*argv[: position + 1], token, *argv[position + 1 : index], *argv[index + 1 :]]
    return argv


def _unknown_error(command: argparse.ArgumentParser, names: Sequence[str]) -> CommandLineError:
    from .training.recipe import field_suggestions

    fields = command.field_names
    options = [option for option in command.options if option.startswith("--") and option not in fields]
    return CommandLineError(command.prog, unrecognized(names, options, field_suggestions if fields else None))


def parse_command_line(
    argv: Sequence[str], parser: argparse.ArgumentParser | None = None
) -> argparse.Namespace:
    """``argv`` parsed before any work: the command's options, ``overrides`` (the recipe ``--field value``
    flags, not yet read) and ``argv``; :class:`CommandLineError` or ``SystemExit`` (``--help``)."""
    argv = list(argv)
    parser = parser or build_parser(next(([token] for token in argv if token in LINES), []))
    choices = getattr(parser, "commands", {})
    command = next((choices[token] for token in argv if token in choices), None)
    argv = _recipe_first(command, argv)
    try:
        args, extra = parser.parse_known_args(argv)
    except CommandLineError:  # an unknown option explains more than a missing argument does
        unknown = _unknown_options(command, argv)
        if unknown and not command.get_default("accepts_overrides"):
            raise _unknown_error(command, unknown) from None
        raise
    overrides = getattr(args, "accepts_overrides", False)
    if extra:  # neither the command's options nor (train) recipe fields: refused before any work
        unknown = _unknown_options(command, extra)
        if unknown := [name for name in unknown if not (overrides and name in command.field_names)]:
            raise _unknown_error(command, unknown)
        if not overrides:
            (command or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    args.argv = argv
    return args


def model_or_default(args: argparse.Namespace, files: str | None = None) -> str:
    """The model a command with an optional ``MODEL`` runs, set as ``args.model``; an audio file taken as
    ``MODEL`` goes back to the front of ``files``."""
    from .pretrained.shipped import chosen_model
    from .screening.sources import AUDIO_SUFFIXES

    path = Path(args.model or "").expanduser()
    audio = path.suffix.lower() in AUDIO_SUFFIXES and not path.is_dir()
    if args.model is not None and files is not None and audio:
        setattr(args, files, [args.model, *getattr(args, files)])
        args.model = None
    args.model = chosen_model(args.model)
    return args.model


def run_command(args: argparse.Namespace) -> Any:
    """Run a parsed command's handler as ``respira`` does (nothing written in a shipped detector's folder);
    return what it returns."""
    from .pretrained import check_not_shipped

    for name in ("output_dir", "output", "plot_dir"):  # where commands write (evaluate --record: its own)
        value = getattr(args, name, None)
        if isinstance(value, str) and value not in ("", "-"):
            check_not_shipped(value, f"write --{name} there: give another folder")
    with run_warnings():
        if "model_files" in vars(args):  # an optional MODEL (add_model_argument)
            model_or_default(args, args.model_files)
        return args.handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 error, 130 interrupted, or the command's own code)."""
    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"
    try:
        args = parse_command_line(sys.argv[1:] if argv is None else argv)
    except CommandLineError as error:
        print(error.line(), file=sys.stderr)
        return 2
    except SystemExit as exit:  # --help, --version
        return exit.code if isinstance(exit.code, int) else 0
    try:
        code = run_command(args)
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM where a command turns it into one
        signum = getattr(interrupt, "signum", 2)
        print("interrupted" if signum == 2 else f"terminated (signal {signum})", file=sys.stderr)
        return 128 + signum
    except Exception as error:
        if args.debug:
            raise
        print(f"respira {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
