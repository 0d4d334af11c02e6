"""A ``respira`` command in a fork of the test process: respira, torch and transformers are imported already
(a fresh ``python -m respira`` spends about 7 s of CPU importing them), for the tests of what a running
command does when it is killed or stopped, not of how a process starts; and the processes of one
data-parallel job, forked as ``accelerate launch`` would start them."""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path


def fork_command(
    argv: list[str],
    output: Path,
    tmpdir: Path | None = None,
    *,
    errors: Path | None = None,
    before: Callable[[], None] | None = None,
) -> int:
    """``respira`` ``argv`` run by :func:`respira.cli.main` in a fork, its stdout and stderr to ``output``
    (stderr to ``errors`` when given), Ctrl-C raising ``KeyboardInterrupt`` as in a fresh process, its
    temporary files in ``tmpdir`` when given, ``before()`` called in the fork first; the fork's id (it exits
    with main's status and never returns to pytest)."""

    def command() -> int:
        if tmpdir is not None:
            os.environ["TMPDIR"] = str(tmpdir)
            tempfile.tempdir = str(tmpdir)
        sys.argv = ["respira", *argv]
        if before is not None:
            before()
        from respira.cli import main

        return main(argv)

    with output.open("w") as log, Path(errors or os.devnull).open("w") as error_log:
        return _fork(command, log.fileno(), (error_log if errors is not None else log).fileno())


def _fork(run: Callable[[], int | None], out: int, err: int) -> int:
    """``run()`` in a fork writing to the descriptors ``out`` and ``err``, Ctrl-C raising
    ``KeyboardInterrupt`` and SIGTERM killing it as in a fresh process; the fork's id (it exits with run's
    status, 0 for None, 70 on an exception, and never returns to pytest)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70  # the status of an exception
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        code = run() or 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def free_port() -> int:
    """A TCP port of 127.0.0.1 free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_environment(config: Path) -> dict[int, dict[str, str]]:
    """What ``accelerate launch --config_file config`` adds to the environment of the processes it starts
    (its launcher's own ``prepare_multi_gpu_env``, on a free port), with the variables torchrun sets
    for each: ``{rank: {name: value}}``."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    parsed = launch_command_parser().parse_args(["--config_file", str(config), "--main_process_port",
                                                 str(free_port()), "script.py"])  # fmt: skip
    args = _validate_launch_command(parsed)[0]
    shared = {k: v for k, v in prepare_multi_gpu_env(args).items() if os.environ.get(k) != v}
    processes = int(args.num_processes)
    shared |= {"MASTER_ADDR": args.main_process_ip or "127.0.0.1", "MASTER_PORT": str(args.main_process_port),
               "WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes)}  # fmt: skip
    return {rank: {**shared, "RANK": str(rank), "LOCAL_RANK": str(rank)} for rank in range(processes)}


def fork_launch(config: Path, run: Callable[[], int | None], output: Path, timeout: float = 600) -> list[int]:
    """``run()`` in each process ``accelerate launch --config_file config`` would start, forked from this one
    (respira and torch imported already: each fresh process spends about 7 s of CPU importing them) with
    that process's environment and a fresh accelerate state, stdout and stderr of all to ``output`` as a
    launcher's are; their exit statuses, once all have ended (killed after ``timeout`` seconds)."""
    from accelerate.state import AcceleratorState

    def rank(environment: dict[str, str]) -> int | None:
        os.environ.update(environment)
        AcceleratorState._reset_state(reset_partial_state=True)  # this process's, not the parent's
        return run()

    with output.open("w") as log:
        pids = [
            _fork(partial(rank, env), log.fileno(), log.fileno())
            for env in launch_environment(config).values()
        ]
    deadline = time.monotonic() + timeout
    codes: dict[int, int] = {}
    while len(codes) < len(pids):
        for pid in set(pids) - set(codes):
            if (code := exit_status(pid, block=False)) is not None:
                codes[pid] = code
            elif time.monotonic() > deadline:  # a rank waiting for one that died
                os.kill(pid, signal.SIGKILL)
                codes[pid] = exit_status(pid)
        time.sleep(0.05)
    return [codes[pid] for pid in pids]


def exit_status(pid: int, block: bool = True) -> int | None:
    """The fork's exit status as ``subprocess`` gives it (``-N`` for a signal N), or None while it runs
    (``block=False``)."""
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None
