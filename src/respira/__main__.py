"""The ``respira`` command (``python -m respira``, the installed script, ``accelerate launch -m respira``)."""

import sys

import respira


def main(argv: list[str] | None = None) -> int:
    """:func:`respira.cli.main` in the command's own process, whose commands import respira's models when
    they need them (a session importing respira.cli registers them as ``import respira`` does)."""
    respira._COMMAND_LINE = True
    from .cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
