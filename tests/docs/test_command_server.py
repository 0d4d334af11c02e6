"""The docs' command server (tests/docs/command_server.py): a block's respira command run by a fork of the
server behaves as the installed script would (output, status, folder, the one-line error), and a command
whose environment differs from the server's runs the installed script."""

from __future__ import annotations

import subprocess
from pathlib import Path

from respira import __version__

from .command_server import CommandServer
from .test_code_blocks import block_environment


def test_a_block_s_commands_run_in_forks_of_the_server_unless_their_environment_differs(tmp_path: Path):
    installed = tmp_path / "installed-respira"
    installed.write_text('#!/bin/sh\necho "installed $*"\nexit 7\n')
    installed.chmod(0o755)
    server = CommandServer(str(installed))
    try:
        env = block_environment(None, server.commands(block_environment(None)))
        (tmp_path / "work").mkdir()
        assert server.folder is not None and (server.folder / "socket").is_socket()
        script = (
            "respira --version | tr a-z A-Z\n"
            "respira train no_such_recipe.yaml || echo status $?\n"
            "TORCHINDUCTOR_CACHE_DIR=/tmp/inductor respira --version\n"  # torch set it in the tests' process
            "GREETING=hello respira --version || echo status $?\n"
        )
        work = tmp_path / "work"
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True)  # noqa: PLW1510
    finally:
        server.stop()
    assert done.stdout.splitlines() == [
        f"RESPIRA {__version__}".upper(),  # the fork's stdout is the pipe
        "status 2",  # its status
        f"respira {__version__}",  # a variable torch sets as it goes: still a fork
        "installed --version",  # another environment: the installed script
        "status 7",
    ], done.stderr
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and "no_such_recipe.yaml" in error[0], done.stderr
    assert not server.folder.exists()  # the socket and the client removed
