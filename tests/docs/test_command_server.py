"""The docs' command server (tests/docs/command_server.py): a block's respira command run by a fork of the
server behaves as the installed script would (output, status, folder, the one-line error), a command
whose environment differs from the server's runs the installed script, the processes ``accelerate launch``
starts are forks too, and a stopped server leaves nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from respira import __version__

from .command_server import INTERPRETER, CommandServer, _installed, same_environment
from .doc_blocks import REPO
from .test_code_blocks import block_environment


def test_a_block_s_commands_run_in_forks_of_the_server_unless_their_environment_differs(
    tmp_path: Path, respira_server: CommandServer, monkeypatch: pytest.MonkeyPatch
):
    """Through the worker's own server (the blocks'), its client pointed at a stand-in installed script;
    a variable this process gained after the first block (as an import sets one) stays out of the blocks."""
    installed = tmp_path / "installed-respira"
    installed.write_text('#!/bin/sh\necho "installed $*"\nexit 7\n')
    installed.chmod(0o755)
    commands = respira_server.commands(block_environment(None))
    monkeypatch.setenv("RESPIRA_TESTS_SET_AFTER_THE_FIRST_BLOCK", "1")
    env = block_environment(None, commands)
    assert respira_server.folder is not None and (respira_server.folder / "socket").is_socket()
    client = respira_server.bin / "respira"
    as_started = client.read_text()
    client.write_text(as_started.replace(repr(respira_server.installed), repr(str(installed))))
    script = (
        "respira --version | tr a-z A-Z\n"
        "respira train no_such_recipe.yaml || echo status $?\n"
        "GREETING=hello respira --version || echo status $?\n"
    )
    try:
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)  # noqa: PLW1510
    finally:
        client.write_text(as_started)
    assert done.stdout.splitlines() == [
        f"RESPIRA {__version__}".upper(),  # the fork's stdout is the pipe
        "status 2",  # its status
        "installed --version",  # another environment: the installed script
        "status 7",
    ], done.stderr
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and "no_such_recipe.yaml" in error[0], done.stderr


def test_the_processes_accelerate_launch_starts_are_forks_of_the_server(
    tmp_path: Path, respira_server: CommandServer
) -> None:
    """Two CPU processes (the docs' config, on a free port): each runs ``python -u -m respira`` in a fork,
    with the variables the launcher set; an interpreter's other command lines run the interpreter (a
    stand-in, as is the installed launcher: a launch the server did not fork would say so)."""
    env = block_environment(None, respira_server.commands(block_environment(None)))
    client = respira_server.folder / INTERPRETER / "python"
    clients = {client: sys.executable, respira_server.bin / "accelerate": _installed("accelerate")}
    as_started = {path: path.read_text() for path in clients}
    for path, installed in clients.items():
        stand_in = tmp_path / f"installed-{path.name}"
        stand_in.write_text(f'#!/bin/sh\necho "installed {path.name} $*"\n')
        stand_in.chmod(0o755)
        path.write_text(as_started[path].replace(repr(installed), repr(str(stand_in))))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = REPO / "recipes/accelerate/cpu_ddp.yaml"
    script = (
        f"accelerate launch --config_file {config} --main_process_port {port} -m respira --version\n"
        f"{client} -c 'print(1)'\n"
    )
    try:
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)  # noqa: PLW1510
    finally:
        for path, text in as_started.items():
            path.write_text(text)
    forks = [f"respira {__version__}"] * 2
    assert done.stdout.splitlines() == [*forks, "installed python -c print(1)"], done.stderr


def test_a_launched_process_is_served_with_the_variables_the_launcher_adds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As ``accelerate launch`` passes the environment on (its own ``patch_environment``, which upper-cases
    every name: make test's clone has npm's ``npm_config_cache``) with a process's rank: the server's;
    another variable, or the same environment for a command the server starts itself: not."""
    from accelerate.utils import patch_environment

    monkeypatch.setenv("respira_tests_lower_case", "1")
    server = dict(os.environ)
    with patch_environment(**server, RANK="1", WORLD_SIZE="2"):
        launched = dict(os.environ)
    assert launched["RESPIRA_TESTS_LOWER_CASE"] == "1"  # what sent make test's launches past the server
    assert same_environment("python -u -m respira", launched, server)
    assert not same_environment("python -u -m respira", {**launched, "GREETING": "hello"}, server)
    assert not same_environment("respira", launched, server)


def test_a_stopped_server_is_ended_and_its_folder_removed(tmp_path: Path) -> None:
    server = CommandServer()
    server.folder = tmp_path / "server"
    (server.folder / "bin").mkdir(parents=True)
    server.process = subprocess.Popen(["sleep", "60"])
    server.stop()
    assert server.process.returncode is not None  # terminated and waited for
    assert not server.folder.exists()  # the socket and the client removed
