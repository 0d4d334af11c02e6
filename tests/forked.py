"""A ``respira`` command in a fork of the test process: respira, torch and transformers are imported already
(a fresh ``python -m respira`` spends about 7 s of CPU importing them), for the tests of what a running
command does when it is killed or stopped, not of how a process starts."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
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
    sys.stdout.flush()
    sys.stderr.flush()
    with output.open("w") as log, Path(errors or os.devnull).open("w") as error_log:
        pid = os.fork()
        if pid == 0:
            code = 70  # the status of an exception
            try:
                os.dup2(log.fileno(), 1)
                os.dup2((error_log if errors is not None else log).fileno(), 2)
                sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                if tmpdir is not None:
                    os.environ["TMPDIR"] = str(tmpdir)
                    tempfile.tempdir = str(tmpdir)
                sys.argv = ["respira", *argv]
                if before is not None:
                    before()
                from respira.cli import main

                code = main(argv)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
    return pid


def exit_status(pid: int, block: bool = True) -> int | None:
    """The fork's exit status as ``subprocess`` gives it (``-N`` for a signal N), or None while it runs
    (``block=False``)."""
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None
