"""The docs' ``respira`` commands, each run in a fork of one process that imported respira once.

A fresh ``respira`` process spends about 7 s of CPU importing torch, transformers and respira before it
reads its command line, and the pages run about 80 of them. The blocks' shell finds this folder's ``respira``
and ``accelerate`` first on ``PATH``: a small client (:data:`CLIENT`) that hands its command line, working
folder, environment and standard streams to a server (:func:`serve`, one per pytest worker). The server
forks; the fork takes them and runs the command's ``main`` as its installed script does
(``sys.exit(main())``), then shuts down as the interpreter does up to its modules' teardown
(:func:`_shut_down`); the client exits with its status, and the fork ends if its client does (killed, as a
launcher ends its other processes when one fails). ``accelerate launch`` runs in a fork whose interpreter
(``sys.executable``, what the launcher starts each process with) is a client too, so each launched
``python -u -m respira`` is a fork as well.

Only what a fresh process would read differently is left to one: a command whose environment differs from
the server's (beyond :data:`UNREAD`, and :data:`LAUNCHED` and the launcher's upper-case copies for a
launched process: a value read as a library is imported could differ), or any command once the server is
gone, runs the installed script.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

UNREAD = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "PYTEST_CURRENT_TEST"})
"""Variables bash and pytest set as they go (so they differ between the server and a block's commands),
which no library reads as it is imported."""
LAUNCHED = frozenset(
    {"RANK", "LOCAL_RANK", "GROUP_RANK", "ROLE_RANK", "ROLE_NAME", "WORLD_SIZE", "LOCAL_WORLD_SIZE"}
    | {"GROUP_WORLD_SIZE", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCH_NCCL_ASYNC_ERROR_HANDLING"}
    | {f"TORCHELASTIC_{name}" for name in ("ERROR_FILE", "MAX_RESTARTS", "RESTART_COUNT", "RUN_ID")}
    | {"TORCHELASTIC_SIGNALS_TO_HANDLE", "TORCHELASTIC_USE_AGENT_STORE", "ACCELERATE_MIXED_PRECISION"}
    | {f"ACCELERATE_DYNAMO_{name}" for name in ("BACKEND", "MODE", "USE_DYNAMIC", "USE_FULLGRAPH")}
    | {"ACCELERATE_DYNAMO_USE_REGIONAL_COMPILATION"}
)
"""Variables ``accelerate launch`` (through torch's elastic agent) sets for each process it starts, read as
the process sets up its process group and accelerator state, not as a module is imported."""
LAUNCHED_PROGRAMS = frozenset({"python -m respira", "python -u -m respira"})
"""What the interpreter's client forwards: a launched process's command line (its ``-u`` kept)."""
PROGRAMS = frozenset({"respira", "accelerate"}) | LAUNCHED_PROGRAMS
INTERPRETER = "interpreter"
"""The folder of the interpreter's client (not on ``PATH``: a block's own ``python`` is the real one)."""
FALLBACK = b"exec"
"""The server's answer when the client is to run the installed ``respira`` script instead."""
WARM_MODULES = (
    "respira.training.run",
    "respira.training.trainer",
    "respira.data.icbhi",
    "respira.data.loaders",
    "respira.evaluation.cycles",
    "respira.inference.detector",
    "respira.pretrained.shipped",
    "respira.reports.figures",
    "respira.hub.card_render",
    "datasets.features._torchcodec",
    "matplotlib.pyplot",
    "scipy.io",
    "scipy.signal",
    "threadpoolctl",
)
"""Imported by the server before its first fork, beside every command's module (what the commands import as
they run, so that each fork does not import it again)."""
WARM_CALLS = ("respira.hub.card_template:_template",)
"""Per-process caches most commands fill, filled by the server before its first fork: the model card's
compiled template (about 0.4 s of CPU; every command that writes a card renders it)."""

CLIENT = """#!{python} -IS
# respira's docs tests: this command line, run by the server at {socket} (tests/docs/command_server.py)
import json, os, socket, sys

installed, program, argv = {installed!r}, {program!r}, sys.argv[1:]
if program == "python":  # a launched interpreter: only [-u] -m respira ... goes to the server
    flags = argv[:1] if argv[:1] == ["-u"] else []
    if argv[len(flags) : len(flags) + 2] != ["-m", "respira"]:
        os.execv(installed, [installed, *argv])
    program = " ".join(["python", *flags, "-m", "respira"])
    argv = argv[len(flags) + 2 :]
try:
    server = socket.socket(socket.AF_UNIX)
    server.connect({socket!r})
except OSError:
    os.execv(installed, [installed, *sys.argv[1:]])
request = {{"program": program, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}}
request = json.dumps(request).encode()
socket.send_fds(server, [len(request).to_bytes(8, "big")], [0, 1, 2])
server.sendall(request)
answer = b""
while chunk := server.recv(64):
    answer += chunk
if answer == {fallback!r}:
    os.execv(installed, [installed, *sys.argv[1:]])
if len(answer) != 4:
    sys.exit("respira (the docs tests' command server): the command's process ended without a status")
sys.exit(int.from_bytes(answer, "big", signed=True))
"""


def _installed(program: str = "respira") -> str:
    """The installed script of ``program`` (``respira``, ``accelerate``), or the interpreter (``python``)."""
    return sys.executable if program == "python" else str(Path(sys.executable).parent / program)


def _differing(program: str) -> frozenset[str]:
    """The variables a request of ``program`` may set otherwise than the server: its own, in the fork."""
    return UNREAD | LAUNCHED if program in LAUNCHED_PROGRAMS else UNREAD


def _launcher_copies(env: dict[str, str]) -> dict[str, str]:
    """What ``accelerate launch`` adds beside :data:`LAUNCHED` to the environment of each process it starts:
    an upper-case copy of every variable whose name is not (its ``patch_environment`` upper-cases the names
    of the whole environment it passes on: ``NPM_CONFIG_CACHE`` beside npm's ``npm_config_cache``)."""
    return {name.upper(): value for name, value in env.items() if name != name.upper()}


def same_environment(program: str, env: dict[str, str], environment: dict[str, str]) -> bool:
    """Whether a request of ``program`` with ``env`` comes from a process started as the server was (with
    ``environment``), as far as a library imported there could tell."""
    if program in LAUNCHED_PROGRAMS:
        environment = {**environment, **_launcher_copies(environment)}
    differing = _differing(program)
    return {k: v for k, v in env.items() if k not in differing} == {
        k: v for k, v in environment.items() if k not in differing
    }


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(connection, 8, 3)
    size, body = int.from_bytes(header, "big"), b""
    while len(body) < size:
        chunk = connection.recv(size - len(body))
        if not chunk:
            raise ConnectionError("the client left before its request was read")
        body += chunk
    return json.loads(body), fds


def serve(path: str) -> tuple[socket.socket, dict]:
    """Import respira, listen at ``path`` and fork for each request; return only in a fork, with its
    connection and request (its standard streams, folder, environment and ``sys.argv`` already set)."""
    environment = dict(os.environ)  # as started, before the imports set their variables
    sys.argv[0] = "respira"  # the installed script's process: import respira registers no models there
    from respira.cli import build_parser

    build_parser()  # imports every command's module
    for name in WARM_MODULES:
        __import__(name)
    for call in WARM_CALLS:
        module, _, function = call.partition(":")
        getattr(importlib.import_module(module), function)()
    _skip_drawing()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(1.0)
    signal.signal(signal.SIGTERM, _stop)
    print("ready", flush=True)
    while True:
        _reap()
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connection.settimeout(None)
        try:
            request, fds = _receive(connection)
        except (OSError, ValueError):
            connection.close()
            continue
        same = same_environment(request.get("program", ""), request["env"], environment)
        if not same or len(fds) != 3 or request.get("program") not in PROGRAMS:
            connection.sendall(FALLBACK)
        elif os.fork() == 0:
            listener.close()
            _become(connection, request, fds, Path(path).parent)
            return connection, request
        for fd in fds:
            os.close(fd)
        connection.close()


def _skip_drawing() -> None:
    """Figures not drawn, as in the tests' own process (tests/figures.py; a script here, not the package)."""
    import importlib.util

    path = Path(__file__).parents[1] / "figures.py"
    spec = importlib.util.spec_from_file_location("respira_tests_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.skip_drawing()


def _stop(*_: object) -> None:
    """Exit once every fork has ended (so that their CPU time counts as the server's children's)."""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()
    sys.exit(0)


def _reap() -> None:
    """Wait for the forks that ended (their CPU time then counts as the server's children's)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _become(connection: socket.socket, request: dict, fds: list[int], folder: Path) -> None:
    """Take the client's streams, folder and environment, as its own process would have them; end with the
    client (SIGIO, whose default ends the process, once its connection closes)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGIO, signal.SIG_DFL)
    fcntl.fcntl(connection, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(connection, fcntl.F_SETFL, fcntl.fcntl(connection, fcntl.F_GETFL) | os.O_ASYNC)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    program = request["program"]
    own = set(_differing(program))
    if program in LAUNCHED_PROGRAMS:
        own |= _launcher_copies(request["env"]).keys()
    for name in own:  # the rest is the server's: as started, and what its imports set
        if name in request["env"]:
            os.environ[name] = request["env"][name]
        else:
            os.environ.pop(name, None)
    _open_streams(unbuffered="-u" in program.split())
    if program in LAUNCHED_PROGRAMS:  # python -m respira: the module's path; the folder first on sys.path
        sys.argv = [str(Path(sys.modules["respira"].__file__).parent / "__main__.py")]
        sys.path[0] = request["cwd"]
    else:
        sys.argv = [_installed(program)]
    sys.argv += request["argv"]
    if program == "accelerate":  # the processes it launches: each a client of this server too, started
        sys.executable = str(folder / INTERPRETER / "python")  # with the client's environment (a fresh
        os.environ.clear()  # launcher imports none of the modules that set variables in the server)
        os.environ.update(request["env"])
    random.seed()  # a fresh process's unseeded generators, not the server's
    from accelerate.state import AcceleratorState, GradientState, PartialState

    for state in (PartialState, AcceleratorState, GradientState):  # accelerate's per-process state: the
        state._shared_state.clear()  # server's parser built it from its own environment (not RANK's)
    import numpy as np

    np.random.seed()


def _open_streams(unbuffered: bool) -> None:
    """The standard streams as Python opens them: stdout line-buffered on a terminal, stderr always; with
    ``-u``, unbuffered and written through."""
    sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115

    def stream(fd: int, errors: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(
            raw if unbuffered else io.BufferedWriter(raw),
            errors=errors,
            line_buffering=line and not unbuffered,
            write_through=unbuffered,
        )

    sys.stdout = sys.__stdout__ = stream(1, "strict", os.isatty(1))
    sys.stderr = sys.__stderr__ = stream(2, "backslashreplace", True)


def _shut_down() -> None:
    """What the interpreter does at exit before it tears its modules down: wait for the threads that are
    not daemons, run the ``atexit`` functions (``weakref.finalize``'s too: temporary folders), flush the
    standard streams. The teardown itself is left out: in a fork of a process that imported torch and
    transformers it writes to most of the memory the fork shares with the server, about 1.8 s of CPU a
    command, for nothing a command's output depends on."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()


def _status(code: object) -> int:
    """The exit status of ``sys.exit(code)``, printing a message as the interpreter does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


class CommandServer:
    """A pytest worker's server, started for the first block that runs respira."""

    def __init__(self, installed: str | None = None) -> None:
        self.installed = installed or _installed()
        """The ``respira`` its client runs where the server does not."""
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None
        self.bin: Path | None = None

    def commands(self, env: dict[str, str]) -> Path:
        """The folder of the ``respira`` client, for blocks run with ``env`` (PATH without the folder); the
        server started with ``env`` on first use."""
        if self.bin is None:
            self.folder = Path(tempfile.mkdtemp(prefix="respira-docs-"))  # short: a socket's path is
            self.process, self.bin = start(self.folder, env, self.installed)
        return self.bin

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def start(folder: Path, env: dict[str, str], installed: str) -> tuple[subprocess.Popen, Path]:
    """A server for the commands of blocks run with ``env``, and the folder holding its ``respira`` and
    ``accelerate`` clients (to put first on ``PATH``; ``installed`` runs the respira commands the server does
    not); the folder's name must be short (a socket's path is)."""
    socket_path = folder / "socket"
    bin_dir = folder / "bin"
    clients = {"respira": bin_dir, "accelerate": bin_dir, "python": folder / INTERPRETER}
    for program, client_dir in clients.items():
        client_dir.mkdir(exist_ok=True)
        names = {"python": sys.executable, "socket": str(socket_path), "program": program}
        names["installed"] = installed if program == "respira" else _installed(program)
        (client_dir / program).write_text(CLIENT.format(**names, fallback=FALLBACK))
        (client_dir / program).chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, __file__, str(socket_path)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise RuntimeError("the docs' respira command server did not start")
    return server, bin_dir


def _main(program: str) -> Callable[[], object]:
    if program == "accelerate":
        from accelerate.commands.accelerate_cli import main

        return main
    from respira.cli import main

    return main


if __name__ == "__main__":
    sys.path[0] = str(Path(sys.executable).parent)  # as the installed script: its folder, not this one
    connection, request = serve(sys.argv[1])
    main = _main(request["program"])
    try:
        status = _status(main())
    except SystemExit as exit:
        status = _status(exit.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    _shut_down()
    connection.sendall(status.to_bytes(4, "big", signed=True))
    os._exit(status)
