"""The docs tests' session fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .command_server import CommandServer


@pytest.fixture(scope="session")
def respira_server() -> Iterator[CommandServer]:
    """The worker's server of the blocks' respira commands (:mod:`.command_server`)."""
    server = CommandServer()
    yield server
    server.stop()
