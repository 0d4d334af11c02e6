"""respira's own argument parser with its texts made reStructuredText, for sphinx-argparse.

sphinx-argparse parses every help, description and epilog as reStructuredText, but respira writes them
for a terminal (``recipes/*.yaml``, indented example blocks). :func:`respira_parser` returns
:func:`respira.cli.build_parser`'s parser with each text rewritten to show as the terminal shows it:
one-line texts with reStructuredText's markup characters escaped, texts of several lines as a literal
block. Nothing else changes: the commands, options, defaults and choices are the parser's own.
"""

from __future__ import annotations

import argparse
import textwrap

_MARKUP = "\\*`_|[]<>:"  # characters reStructuredText may read as markup; a backslash makes each literal


def _escaped(text: str) -> str:
    return "".join(f"\\{char}" if char in _MARKUP else char for char in text)


def _as_rst(text: str | None) -> str | None:
    if not text or text == argparse.SUPPRESS:
        return text
    if "\n" in text.strip():
        return "::\n\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "    ")
    return _escaped(" ".join(text.split()))


def _rewrite(parser: argparse.ArgumentParser, seen: set[int]) -> None:
    if id(parser) in seen:
        return
    seen.add(id(parser))
    parser.description = _as_rst(parser.description)
    parser.epilog = _as_rst(parser.epilog)
    for group in parser._action_groups:
        group.description = _as_rst(group.description)
    for action in parser._actions:
        action.help = _as_rst(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = _as_rst(choice.help)
            for command in action.choices.values():
                _rewrite(command, seen)


def respira_parser() -> argparse.ArgumentParser:
    """:func:`respira.cli.build_parser`'s parser, its texts in reStructuredText."""
    from respira.cli import build_parser

    parser = build_parser()
    _rewrite(parser, set())
    return parser
