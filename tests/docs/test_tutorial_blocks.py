"""The tutorials' code blocks, run as test_code_blocks.py runs every other page's (one item per block, named
``page:line``, a page's blocks in page order in one folder and namespace), from a file of their own so that
``make test``'s two pytest-xdist workers (``--dist loadfile``) share the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from .command_server import CommandServer
from .doc_blocks import Block
from .test_code_blocks import TUTORIAL_BLOCKS, check_page_block


@pytest.mark.parametrize("block", TUTORIAL_BLOCKS, ids=[block.name for block in TUTORIAL_BLOCKS])
def test_code_block(
    block: Block,
    tmp_path_factory: pytest.TempPathFactory,
    synthetic_corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    respira_server: CommandServer,
) -> None:
    check_page_block(block, tmp_path_factory, synthetic_corpus, monkeypatch, respira_server)
