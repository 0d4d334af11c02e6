"""Every code block of README.md, CONTRIBUTING.md and docs/**/*.md, run (or, marked skip, parsed) as the docs'
convention says (tests/docs/doc_blocks.py), from this file or, for the pages ``docs_test_file`` gives them,
test_howto_blocks.py and test_tutorial_blocks.py: one pytest item per block, named ``page:line``; the blocks
of a page run in page order, in one working folder (tests/docs/working_folder.py) and one Python namespace;
their ``respira`` commands run in forks of the worker's command server (tests/docs/command_server.py)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from respira.cli import CommandLineError, parse_command_line

from ..conftest import CODE_BLOCKS, SHARED_DIR
from .command_server import CommandServer
from .doc_blocks import (
    REPO,
    Block,
    Page,
    documentation_pages,
    read_page,
    respira_command_lines,
    with_appended,
)
from .working_folder import shared_working_folder, synthetic_working_folder

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BLOCK_TIMEOUT_S = int(os.environ.get("RESPIRA_DOC_BLOCK_TIMEOUT", "600"))
"""A block's time limit; blocks are meant to take seconds (the synthetic corpus, a few training steps)."""

PAGES: list[Page] = [read_page(path) for path in documentation_pages()]
FIXED_PORT_CONFIGS = ("recipes/accelerate/cpu_ddp.yaml",)
"""accelerate configs with a fixed ``main_process_port``: the pages that launch one run in this file."""


def docs_test_file(page: Page) -> str:
    """The test file that runs ``page``'s blocks, so that ``make test``'s two workers (``--dist loadfile``:
    a file on one worker) share the docs: the tutorials (test_tutorial_blocks.py), the how-to guides
    (test_howto_blocks.py), every other page here; a page that launches accelerate with a fixed port stays
    here with the other such pages, one at a time."""
    launches = any(
        block.runs and config in block.code for block in page.blocks for config in FIXED_PORT_CONFIGS
    )
    if launches:
        return "test_code_blocks.py"
    if page.name.startswith("docs/tutorials/"):
        return "test_tutorial_blocks.py"
    if page.name.startswith("docs/how-to/"):
        return "test_howto_blocks.py"
    return "test_code_blocks.py"


def blocks_run_by(test_file: str) -> list[Block]:
    """The checked blocks (all but data) of the pages whose blocks ``test_file`` runs, in page order."""
    name = Path(test_file).name
    pages = [page for page in PAGES if docs_test_file(page) == name]
    return [block for page in pages for block in page.blocks if block.kind != "data"]


CHECKED = blocks_run_by(__file__)


class PageRun:
    """A page's working folder and Python namespace, shared by its blocks in page order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.namespace: dict[str, Any] = {"__name__": "__main__"}


_RUNS: dict[Path, PageRun] = {}


def page_run(page: Path, shared_data: bool, factory: pytest.TempPathFactory, synthetic: Path) -> PageRun:
    if page not in _RUNS:
        if shared_data and not (SHARED_DIR / "icbhi").is_dir():
            pytest.skip(f"the page uses ../shared (data=shared), not found at {SHARED_DIR}")
        folder = factory.mktemp(page.stem.lower() + "_page", numbered=True) / "work"
        if shared_data:
            shared_working_folder(folder, SHARED_DIR)
        else:
            synthetic_working_folder(folder, synthetic)
        _RUNS[page] = PageRun(folder)
    return _RUNS[page]


@functools.cache
def _first_block_environment() -> dict[str, str]:
    return dict(os.environ)


def block_environment(block: Block | None, commands: Path | None = None) -> dict[str, str]:
    """The environment a shell block runs in: ``commands`` (a folder holding a ``respira`` client of
    :mod:`.command_server`), then this interpreter's bin first on PATH (``respira``, ``accelerate``), this
    checkout's src first on PYTHONPATH, no network, the block's own variables. The rest is this process's
    environment when the first block ran: what later imports set here (sklearn's ``KMP_DUPLICATE_LIB_OK``,
    torch's inductor cache) would leak into the blocks and send their commands past the server."""
    env = dict(_first_block_environment())
    folders = [str(folder) for folder in (commands, Path(sys.executable).parent) if folder]
    env["PATH"] = os.pathsep.join([*folders, env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"})
    env.update(block.env if block else {})
    return env


def check_command_lines(block: Block) -> None:
    """Every respira command of a shell block, parsed by respira's own parser (nothing run)."""
    for arguments in respira_command_lines(with_appended(block.code, block.append)):
        try:
            parse_command_line(arguments)
        except CommandLineError as error:
            pytest.fail(f"{block.name}: respira {' '.join(arguments)}: {error.prog}: {error}")
        except SystemExit:  # --help, --version
            pass


def check_recipe(block: Block, folder: Path) -> None:
    from respira.training.recipe import read_recipe

    recipe = folder / f"recipe_line_{block.line}.yaml"
    recipe.write_text(block.code, encoding="utf-8")
    try:
        read_recipe(recipe)
    except ValueError as error:
        pytest.fail(f"{block.name}: the recipe does not parse: {error}")


def run_shell(block: Block, folder: Path, server: CommandServer | None = None) -> None:
    script = with_appended(block.code, block.append)
    runs_respira = server is not None and respira_command_lines(script)
    commands = server.commands(block_environment(None)) if runs_respira else None
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=block_environment(block, commands),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    said = f"stdout (end):\n{done.stdout[-3000:]}\nstderr (end):\n{done.stderr[-3000:]}"
    if done.returncode != block.exit:
        pytest.fail(f"{block.name}: exit status {done.returncode}, not {block.exit}\n{said}", pytrace=False)
    # the line naming the model a command runs (and the sites it serves) is said before any refusal
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("model: ")]
    if block.exit and len(lines) != 1:
        pytest.fail(f"{block.name}: the error is {len(lines)} lines, not one:\n{done.stderr}", pytrace=False)


def run_python(block: Block, run: PageRun, monkeypatch: pytest.MonkeyPatch) -> None:
    code = compile("\n" * block.line + block.code, block.name, "exec")  # tracebacks name the page's line
    monkeypatch.chdir(run.folder)
    for name, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **block.env}.items():
        monkeypatch.setenv(name, value)
    if not block.exit:
        exec(code, run.namespace)
        return
    with pytest.raises(SystemExit) as raised:
        exec(code, run.namespace)
    assert raised.value.code == block.exit


def check_block(
    block: Block, run: PageRun, monkeypatch: pytest.MonkeyPatch, server: CommandServer | None = None
) -> None:
    """What the convention asks of ``block`` (raises or fails the test when the block does not hold);
    its respira commands run by ``server`` when given, else each in a process of its own."""
    assert not block.errors, f"{block.name}: {'; '.join(block.errors)}"
    assert block.kind != "unknown", (
        f"{block.name}: a block in language {block.language!r}: use bash, python or a data language "
        "(yaml, text, json, ...), so it is run or known to be data"
    )
    if block.kind == "recipe":
        check_recipe(block, run.folder)
    elif block.kind == "python" and block.skip is not None:
        compile(block.code, block.name, "exec")
    elif block.kind == "shell":
        # a block shown failing (exit=N) may hold a command its parser refuses: running it checks it
        assert block.exit == 0 or block.skip is None, f"{block.name}: a block expected to fail must run"
        if block.exit == 0:
            check_command_lines(block)
        if block.skip is None:
            run_shell(block, run.folder, server)
    elif block.kind == "python":
        run_python(block, run, monkeypatch)


def block_test(blocks: list[Block]):
    """The test that runs ``blocks`` (a docs test file's :func:`blocks_run_by`), one item per block."""

    @pytest.mark.parametrize("block", blocks, ids=[block.name for block in blocks])
    def test_code_block(
        block: Block,
        tmp_path_factory: pytest.TempPathFactory,
        synthetic_corpus: Path,
        monkeypatch: pytest.MonkeyPatch,
        respira_server: CommandServer,
    ) -> None:
        check_page_block(block, tmp_path_factory, synthetic_corpus, monkeypatch, respira_server)

    return test_code_block


test_code_block = block_test(CHECKED)


def check_page_block(
    block: Block,
    factory: pytest.TempPathFactory,
    synthetic: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: CommandServer,
) -> None:
    """:func:`check_block` in its page's working folder and namespace."""
    page = next(page for page in PAGES if page.path == block.page)
    check_block(block, page_run(page.path, page.shared_data, factory, synthetic), monkeypatch, server)


def test_every_block_is_collected() -> None:
    """Every fenced block of every page is run, parsed or known data; no marker is misplaced or malformed."""
    problems = [error for page in PAGES for error in page.errors]
    for page in PAGES:
        for block in page.blocks:
            problems += [f"{block.name}: {error}" for error in block.errors]
            if block.kind == "unknown":
                problems.append(f"{block.name}: unknown language {block.language!r}")
    assert not problems, "\n".join(problems)
    assert any(page.name == "README.md" and page.blocks for page in PAGES)


def test_every_block_runs_in_exactly_one_file() -> None:
    """The docs test files' parametrized blocks are every checked block of every page, each once, a page's
    blocks all in one file, in page order."""
    import importlib

    files = sorted({docs_test_file(page) for page in PAGES})
    assert files == ["test_code_blocks.py", "test_howto_blocks.py", "test_tutorial_blocks.py"]
    assert tuple(f"tests/docs/{name}::" for name in files) == CODE_BLOCKS  # the run's block count summary
    run: dict[str, list[Block]] = {}
    for name in files:
        module = importlib.import_module(f"{__package__}.{name.removesuffix('.py')}")
        (mark,) = module.test_code_block.pytestmark
        run[name] = mark.args[1]
    for page in PAGES:
        checked = [block for block in page.blocks if block.kind != "data"]
        holding = [name for name, blocks in run.items() if any(block.page == page.path for block in blocks)]
        assert len(holding) == (1 if checked else 0), f"{page.name}: run by {holding}"
        if checked:
            assert [block for block in run[holding[0]] if block.page == page.path] == checked, page.name
    assert sum(len(blocks) for blocks in run.values()) == sum(
        block.kind != "data" for page in PAGES for block in page.blocks
    )
