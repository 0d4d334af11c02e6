"""The tutorials' code blocks, run as test_code_blocks.py runs the other pages' (one item per block, named
``page:line``, a page's blocks in page order in one folder and namespace), from a file of their own so that
``make test``'s two pytest-xdist workers (``--dist loadfile``) share the docs: see ``docs_test_file``."""

from __future__ import annotations

from .test_code_blocks import block_test, blocks_run_by

CHECKED = blocks_run_by(__file__)
test_code_block = block_test(CHECKED)
