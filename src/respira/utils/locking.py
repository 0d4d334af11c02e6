"""One writer per folder: ``.<name>.lock`` beside it, held with ``flock`` and naming its holder; one writer
per file by its device and inode (:class:`FileLock`)."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType


class FolderLockedError(RuntimeError):
    """The folder is being written by another live process (the message names it; ``holder``: its line)."""

    def __init__(self, message: str, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder


def lock_file(folder: str | Path) -> Path:
    """The lock file of ``folder``: ``.<name>.lock`` beside it."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.lock")


def _holder() -> str:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else "python"
    return (
        f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}: {command}"
    )


def _locked(path: Path) -> tuple[int, bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return fd, False
    return fd, True


def _text(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()


def is_held(folder: str | Path) -> bool:
    """Whether a live process holds ``folder``'s lock."""
    path = lock_file(folder)
    if not path.exists():
        return False
    fd, got = _locked(path)
    os.close(fd)  # closing drops the lock this probe may have taken
    return not got


class FolderLock:
    """An exclusive lock on writing ``folder`` (a context manager); ``took_over``: the holder, now gone, of
    a lock left behind."""

    def __init__(self, folder: str | Path, *, what: str = "folder") -> None:
        self.folder = Path(folder)
        self.path = lock_file(self.folder)
        self.what = what
        self.took_over: str | None = None
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock, or raise :class:`FolderLockedError` naming its live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd, got = _locked(self.path)
            if not got:
                holder = _text(fd) or "an unknown process"
                os.close(fd)
                raise FolderLockedError(
                    f"{self.folder} is being written by another {self.what} ({holder}); wait for it to "
                    "finish or choose another folder",
                    holder,
                )
            try:
                if os.path.samestat(os.fstat(fd), self.path.stat()):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # its holder removed the file as we locked it: lock the one there now
        self.took_over = _text(fd) or None  # a holder that is gone left its line
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{_holder()}\n".encode(), 0)
        self._fd = fd
        return self

    def tell(self, detail: str) -> None:
        """Add ``detail`` (where the holder serves, say) to the holder's line that a refused writer reads."""
        if self._fd is not None:
            line = f"{_text(self._fd).split('; ', 1)[0]}; {detail}\n".encode()
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, line, 0)

    def release(self) -> None:
        """Remove the lock file and drop the lock, if this process holds it."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # still locked: a waiter that opened it retries on a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


class FileLock(FolderLock):
    """:class:`FolderLock` of a file, held on the file itself too (``flock`` of its device and inode): a
    second writer of the same file under any name (a hard link, a symbolic link) is refused. A file
    replaced atomically is a new inode: :func:`follow_file` moves the hold to it."""

    def __init__(self, path: str | Path, *, what: str = "writer") -> None:
        super().__init__(path, what=what)
        self._inode: int | None = None

    def acquire(self) -> FileLock:
        super().acquire()
        try:
            self._inode = _flocked(self.folder)
        except BaseException:
            super().release()
            raise
        if self._inode == -1:
            self._inode = None
            super().release()
            raise FolderLockedError(
                f"{self.folder} is being written by another {self.what} under another name (a hard link or "
                "symbolic link of it); wait for it to finish",
                "under another name: a hard link or symbolic link of it",
            )
        _HELD_FILES[self.folder.resolve()] = self
        return self

    def follow(self) -> None:
        """Hold the file now at the path (a new inode once replaced); the old hold is kept if it cannot."""
        fd = _flocked(self.folder, unless=self._inode)
        if fd is not None and fd >= 0:
            if self._inode is not None:
                os.close(self._inode)
            self._inode = fd

    def release(self) -> None:
        if _HELD_FILES.get(self.folder.resolve()) is self:
            del _HELD_FILES[self.folder.resolve()]
        if self._inode is not None:
            os.close(self._inode)
            self._inode = None
        super().release()


def _flocked(path: Path, unless: int | None = None) -> int | None:
    """A descriptor of the file at ``path`` holding its ``flock``; ``None`` when there is no file (or it is
    the one ``unless`` holds already), ``-1`` when another descriptor holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    if unless is not None and os.path.samestat(os.fstat(fd), os.fstat(unless)):
        os.close(fd)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return -1
    return fd


_HELD_FILES: dict[Path, FileLock] = {}
"""The :class:`FileLock` this process holds, by the file's resolved path."""


def follow_file(path: str | Path) -> None:
    """After ``path`` was replaced: move this process's :class:`FileLock` of it, if any, to the new file."""
    lock = _HELD_FILES.get(Path(path).resolve())
    if lock is not None:
        lock.follow()
