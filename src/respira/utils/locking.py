"""One writer per folder: a ``.<name>.lock`` file beside it, naming the holder (pid, host, start, command).

A second writer gets :class:`FolderLockedError`. A lock whose holder is gone on this host is stale and
taken over; one from another host is respected. The lock file is hard-linked into place complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["FolderLock", "FolderLockedError", "LockHolder", "is_held", "lock_file"]


class FolderLockedError(RuntimeError):
    """The folder is being written by another live process (the message names it)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: enough to tell whether that process still runs, and to name it to a user."""

    pid: int
    host: str
    started: float
    """``time.time()`` when the lock was taken."""
    command: str
    process_start: int | None = None
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""

    @classmethod
    def current(cls) -> LockHolder:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=time.time(),
            command=" ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else "python",
            process_start=_process_start(os.getpid()),
        )

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"pid {self.pid} on {self.host}, since {when}: {self.command}"

    def is_alive(self) -> bool | None:
        """Whether the holder still runs: ``None`` when it cannot be told (another host)."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            pass
        except OSError:
            return None
        if self.process_start is not None:
            now = _process_start(self.pid)
            if now is not None and now != self.process_start:
                return False  # the pid was reused by another process
        return True


def _process_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of ``/proc/<pid>/stat``), if known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def lock_file(folder: str | Path) -> Path:
    """The lock file of ``folder``: ``.<name>.lock`` beside it."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.lock")


def _read_holder(path: Path) -> LockHolder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(**data)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, TypeError):
        return None  # unreadable or not ours: treated as stale below


def is_held(folder: str | Path) -> bool:
    """Whether ``folder``'s lock belongs to a process that may still run (alive here, or on another host)."""
    try:
        holder = _read_holder(lock_file(folder))
    except FileNotFoundError:
        return False
    return holder is not None and holder.is_alive() is not False


class FolderLock:
    """An exclusive, process-level lock on writing ``folder``; a context manager.

    ``took_over`` says whose stale lock was taken over, if any.
    """

    def __init__(self, folder: str | Path, *, what: str = "folder") -> None:
        self.folder = Path(folder)
        self.path = lock_file(self.folder)
        self.what = what
        self.holder: LockHolder | None = None
        self.took_over: LockHolder | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`FolderLockedError` naming its live holder."""
        me = LockHolder.current()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # another process may take or drop the lock between two steps
            if self._create(me):
                self.holder = me
                return self
            try:
                other = _read_holder(self.path)
            except FileNotFoundError:
                continue
            alive = other.is_alive() if other is not None else False
            if other is not None and other.pid == me.pid and other.host == me.host:
                alive = True  # this process already writes the folder (a nested run)
            if alive is False:
                self._remove_stale(other)
                continue
            holder = other.describe() if other is not None else "an unknown process"
            hint = (
                f"; if that run is gone (another machine's lock cannot be checked), remove {self.path}"
                if alive is None
                else ""
            )
            raise FolderLockedError(
                f"{self.folder} is being written by another {self.what} ({holder}); wait for it to "
                f"finish or choose another folder{hint}"
            )
        raise FolderLockedError(f"{self.folder}: could not take the lock {self.path} (it keeps changing)")

    def _create(self, me: LockHolder) -> bool:
        """Create the lock file complete, atomically; ``False`` if one exists."""
        private = self.path.with_name(f"{self.path.name}.{me.pid}-{uuid.uuid4().hex[:8]}")
        private.write_text(json.dumps(asdict(me)) + "\n", encoding="utf-8")
        try:
            os.link(private, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive creation, then the content
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(private.read_text(encoding="utf-8"))
            return True
        finally:
            private.unlink(missing_ok=True)

    def _remove_stale(self, holder: LockHolder | None) -> None:
        """Move a dead holder's lock aside (only one of several racing processes succeeds), then drop it."""
        aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            self.path.rename(aside)
        except FileNotFoundError:
            return
        # The rename took whatever lock was there: if a live process took it meanwhile, give it back.
        current = _read_holder(aside) if aside.exists() else None
        if (
            current is not None
            and holder is not None
            and current != holder
            and current.is_alive() is not False
        ):
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        else:
            self.took_over = holder
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file if this process still holds it."""
        if self.holder is None:
            return
        try:
            if _read_holder(self.path) == self.holder:
                self.path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        self.holder = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
