"""The fenced code blocks of README.md, CONTRIBUTING.md and docs/**/*.md, found with markdown-it-py, and how
each is checked (the convention in the docs' contributor notes):

- ``bash`` / ``console`` / ``shell`` / ``sh``: a script run by ``bash -euo pipefail`` in the page's working
  folder; ``python``: run in one namespace per page; any other known language is data, not run; a
  ``yaml`` block whose first line is ``# recipe`` is read by respira's recipe reader.
- A marker, an HTML comment on the line right before the opening fence, changes that:
  ``<!-- doctest: skip reason="..." -->`` (not run; Python compiled, every respira command line parsed by
  respira's own parser), ``<!-- doctest: append="--max_steps 2" -->`` (appended to every respira command
  of the block), ``<!-- doctest: exit=2 -->`` (expected exit status, stderr one line),
  ``<!-- doctest: env="NAME=VALUE ..." -->`` (extra environment). ``<!-- doctest: data=shared -->``
  anywhere on a page gives the page ../shared's corpora instead of the synthetic one.
"""

from __future__ import annotations

import functools
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]

SHELL_LANGUAGES = frozenset({"bash", "console", "shell", "sh"})
PYTHON_LANGUAGES = frozenset({"python"})
DATA_LANGUAGES = frozenset(
    {"yaml", "yml", "text", "txt", "json", "jsonl", "csv", "tsv", "toml", "ini", "cfg", "bibtex", "diff"}
    | {"html"}
)
"""Languages whose blocks are data, shown but not run. A block in any other language (or none) is an error,
so that no block is left unchecked by a typo."""
CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode"})
"""MyST directives whose fence is a code block of the language they name (``{code-block} python``)."""
SKIP_REASONS = ("network", "gpu", "machines", "own files", "own recordings", "own data", "minutes", "hours")
"""A skip's reason names one of these (the allowed reasons: network, GPU(s), several machines, a user's own
files, more than a few minutes of CPU)."""
MARKER = "doctest:"
RECIPE_MARK = "# recipe"


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    skip: str | None = None  # the reason
    append: str = ""
    exit: int = 0
    env: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a malformed marker

    @property
    def name(self) -> str:
        return f"{_relative(self.page)}:{self.line}"

    @property
    def kind(self) -> str:
        """``shell``, ``python``, ``recipe`` (a YAML recipe), ``data`` or ``unknown``."""
        if self.language in SHELL_LANGUAGES:
            return "shell"
        if self.language in PYTHON_LANGUAGES:
            return "python"
        if self.language in {"yaml", "yml"} and self.code.lstrip().startswith(RECIPE_MARK):
            return "recipe"
        if self.language in DATA_LANGUAGES:
            return "data"
        return "unknown"

    @property
    def runs(self) -> bool:
        return self.kind in {"shell", "python"} and self.skip is None


@dataclass
class Page:
    path: Path
    blocks: list[Block]
    shared_data: bool
    errors: list[str]  # markers not right before a fence

    @property
    def name(self) -> str:
        return _relative(self.path)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def documentation_pages(root: Path = REPO) -> list[Path]:
    """README.md, CONTRIBUTING.md and every docs/**/*.md (built output left out), in that order."""
    pages = [root / name for name in ("README.md", "CONTRIBUTING.md") if (root / name).is_file()]
    docs = root / "docs"
    if docs.is_dir():
        pages += sorted(p for p in docs.rglob("*.md") if "_build" not in p.relative_to(docs).parts)
    return pages


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark's block structure only: fences and HTML comments are blocks, so the inline pass (most of
    the parse, at every worker's collection) is left out."""
    return MarkdownIt("commonmark").disable("inline")


def _marker_options(comment: str) -> dict[str, str] | str:
    """The ``key=value`` options (``skip`` → ``skip=""``) of a ``<!-- doctest: ... -->`` comment, or an
    error text."""
    body = comment.strip().removeprefix("<!--").removesuffix("-->").strip().removeprefix(MARKER)
    try:
        words = shlex.split(body)
    except ValueError as error:
        return f"marker {comment.strip()!r} does not parse: {error}"
    options = {}
    for word in words:
        key, _, value = word.partition("=")
        options[key] = value
    unknown = set(options) - {"skip", "reason", "append", "exit", "env", "data"}
    if unknown:
        return f"unknown marker option(s) {', '.join(sorted(unknown))} in {comment.strip()!r}"
    return options


def _apply_marker(block: Block, options: dict[str, str]) -> None:
    if "skip" in options:
        reason = options.get("reason", "")
        if not any(word in reason.lower() for word in SKIP_REASONS):
            block.errors.append(
                f'skip needs reason="..." naming network, GPU(s), several machines, a user\'s own files or '
                f"minutes/hours of CPU; got {reason!r}"
            )
        block.skip = reason or "skipped"
    elif "reason" in options:
        block.errors.append("reason= without skip")
    if "append" in options:
        block.append = options["append"]
        if block.kind != "shell":
            block.errors.append("append= applies to shell blocks (respira command lines)")
    if "exit" in options:
        if not options["exit"].isdigit():
            block.errors.append(f"exit= takes a number, got {options['exit']!r}")
        else:
            block.exit = int(options["exit"])
    if "env" in options:
        for pair in options["env"].split():
            name, equals, value = pair.partition("=")
            if not equals or not name:
                block.errors.append(f"env= takes NAME=VALUE pairs, got {pair!r}")
            block.env[name] = value
    if "data" in options:
        block.errors.append("data=shared is a page marker: put it on a line of its own, not before a fence")


def _language(info: str) -> tuple[str, bool]:
    """The block's language from a fence's info string, and whether the fence is a MyST directive whose
    content is more Markdown (``{note}``, ``{dropdown}``...)."""
    words = info.split()
    if not words:
        return "", False
    if words[0].startswith("{") and words[0].endswith("}"):
        name = words[0][1:-1]
        if name in CODE_DIRECTIVES:
            return (words[1] if len(words) > 1 else ""), False
        return name, True
    return words[0], False


def _collect(text: str, page: Path, offset: int, blocks: list[Block], markers: dict, errors: list) -> bool:
    """Blocks of ``text`` (lines from ``offset``) into ``blocks``; returns whether a data=shared marker was
    seen. ``markers`` maps a fence's line to its marker."""
    shared = False
    tokens = _parser().parse(text)
    pending: dict[int, tuple[int, str]] = {}  # 0-based line right after a marker -> (marker line, comment)
    for token in tokens:
        if token.type == "html_block" and MARKER in token.content:
            options = _marker_options(token.content)
            if isinstance(options, dict) and "data" in options and len(options) == 1:
                if options["data"] != "shared":
                    errors.append(f"{_relative(page)}:{offset + token.map[0] + 1}: data= takes shared")
                shared = True
                continue
            pending[token.map[1]] = (offset + token.map[0] + 1, token.content)
        elif token.type == "fence":
            language, nested = _language(token.info)
            if nested:  # a directive of Markdown: its own blocks
                inner = offset + token.map[0] + 1
                shared |= _collect(token.content, page, inner, blocks, markers, errors)
                continue
            block = Block(page, offset + token.map[0] + 1, language, token.content)
            marker = pending.pop(token.map[0], None)
            if marker is not None:
                options = _marker_options(marker[1])
                if isinstance(options, str):
                    block.errors.append(options)
                else:
                    _apply_marker(block, options)
            blocks.append(block)
    errors += [
        f"{_relative(page)}:{line}: marker not on the line right before a code fence: {comment.strip()}"
        for line, comment in pending.values()
    ]
    return shared


def read_page(path: Path) -> Page:
    blocks: list[Block] = []
    errors: list[str] = []
    shared = _collect(path.read_text(encoding="utf-8"), path, 0, blocks, {}, errors)
    return Page(path, blocks, shared, errors)


# --- shell command lines -------------------------------------------------------------------------------

_CONTROL = ("&&", "||", ";", "|", "&", "(", ")")
_REDIRECT = (">", ">>", "<", ">&", "<&", ">|")


def logical_lines(script: str) -> list[str]:
    """The script's lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def _words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: a heredoc's text or a multi-line string, not a command
        return []


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of one logical shell line, as words (redirections left out)."""
    commands: list[list[str]] = [[]]
    words = _words(line)
    index = 0
    while index < len(words):
        word = words[index]
        if word in _CONTROL:
            commands.append([])
        elif word in _REDIRECT:
            index += 1  # its target
            if commands[-1] and commands[-1][-1].isdigit():  # 2> file
                commands[-1].pop()
        else:
            commands[-1].append(word)
        index += 1
    return [command for command in commands if command]


def respira_arguments(command: list[str]) -> list[str] | None:
    """The arguments after ``respira`` when ``command`` runs respira (``respira ...``, ``python -m respira
    ...``, ``accelerate launch [options] -m respira ...``), else None."""
    words = list(command)
    while words and "=" in words[0] and not words[0].startswith(("-", "=")):  # NAME=value respira ...
        words.pop(0)
    if words[:1] == ["respira"]:
        return words[1:]
    if words[:1] in (["python"], ["python3"]) and words[1:3] == ["-m", "respira"]:
        return words[3:]
    if words[:2] == ["accelerate", "launch"]:
        for index in range(2, len(words) - 1):
            if words[index] == "-m" and words[index + 1] == "respira":
                return words[index + 2 :]
    return None


def respira_command_lines(script: str) -> list[list[str]]:
    """The arguments of every respira command of a shell script."""
    found = []
    for line in logical_lines(script):
        for command in simple_commands(line):
            arguments = respira_arguments(command)
            if arguments is not None:
                found.append(arguments)
    return found


def _segment_ends(line: str) -> list[int]:
    """The end offsets of the simple commands of ``line`` (where a control operator, a redirection or a
    comment starts), outside quotes."""
    ends, quote, index = [], None, 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
        elif char == "\\":
            index += 1
        elif char in "'\"":
            quote = char
        elif char in "|&;<>" or (char == "#" and (index == 0 or line[index - 1].isspace())):
            ends.append(index)
            if char == "#":
                return ends
            while index + 1 < len(line) and line[index + 1] in "|&;<>":
                index += 1
        index += 1
    ends.append(len(line))
    return ends


def with_appended(script: str, extra: str) -> str:
    """``script`` with ``extra`` appended to every respira command (before a pipe, redirection or comment)."""
    if not extra:
        return script
    lines = []
    for line in logical_lines(script):
        start, pieces = 0, []
        for end in _segment_ends(line):
            segment = line[start:end]
            words = simple_commands(segment)
            if words and respira_arguments(words[0]) is not None:
                stripped = segment.rstrip()
                segment = f"{stripped} {extra}{segment[len(stripped) :] or ' '}"
            pieces.append(segment)
            start = end
        pieces.append(line[start:])
        lines.append("".join(pieces).rstrip())
    return "\n".join(lines) + "\n"
