"""The how-to guides' code blocks, run as test_code_blocks.py runs the other pages' (one item per block, named
``page:line``, a page's blocks in page order in one folder and namespace), from a file of their own so that
``make test``'s two pytest-xdist workers (``--dist loadfile``) share the docs: see ``docs_test_file``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .command_server import CommandServer
from .doc_blocks import Block
from .test_code_blocks import blocks_run_by, check_page_block

CHECKED = blocks_run_by(__file__)


@pytest.mark.parametrize("block", CHECKED, ids=[block.name for block in CHECKED])
def test_code_block(
    block: Block,
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    respira_server: CommandServer,
) -> None:
    check_page_block(block, tmp_path_factory, synthetic_corpus, monkeypatch, respira_server)
