"""One writer per run folder: an operating-system lock on ``DIR/.lock``.

A :class:`~fitnas.study.Study` on a folder takes :class:`RunLock` before it opens the run's
database and holds it for its life (``Study.close()``, or the end of the process). The lock is
``flock(LOCK_EX | LOCK_NB)`` on the open file (``msvcrt.locking`` on Windows), so the
operating system releases it when the holder dies, SIGKILL included: no stale lock is ever left
to remove by hand. The holder writes its pid, command line and start time into the file, so a
second writer is refused with one line naming the process that holds the folder
(:class:`RunLocked`, a :class:`~fitnas.errors.FitnasError`: exit code 2 on the command line).
The file itself stays (removing it would let two processes lock two different files of the
same name); its content is cleared on release.

The lock keeps out other processes. Within one process it is re-entrant: a second Study (or
``RunLock``) on a folder this process already holds shares the one lock, which goes when the
last of them is released (``Study.close()``, or when it is collected), as a program that opens
a run, drops it and opens it again expects.

Readers (``fitnas report``, ``export``, ``load_run``) take no lock: SQLite lets them read a
database that a search is writing.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import FitnasError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "RunLocked"]

LOCK_FILE = ".lock"
_INFO_OFFSET = 0 if fcntl is not None else 1  # msvcrt locks byte 0; the holder is after it


class RunLocked(FitnasError):
    """The run folder is held by another live process."""

    def __init__(self, directory: Path, holder: dict[str, Any] | None) -> None:
        self.directory = directory
        self.holder = holder or {}
        pid = self.holder.get("pid")
        where = f"{str(directory)!r}"
        if pid is not None:
            command = self.holder.get("command")
            text = (f"{where} is in use by process {pid}"
                    + (f" ({command})" if command else "")
                    + f"; wait for it to end or stop it (kill {pid}), then try again")
        else:
            text = f"{where} is in use by another process; wait for it to end, then try again"
        super().__init__(text)

    @property
    def pid(self) -> int | None:
        pid = self.holder.get("pid")
        return int(pid) if pid is not None else None


def _command() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith(("__main__.py", "/fitnas")):
        argv[0] = "fitnas"
    elif argv and argv[0] == "-c":
        argv[0] = "python -c"
    text = (argv[0] + " " + shlex.join(argv[1:])).strip() if argv and argv[0] else "python"
    return text if len(text) <= 200 else text[:197] + "..."


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` without waiting; False when another holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt

    try:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return
    import msvcrt

    os.lseek(fd, 0, os.SEEK_SET)
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


#: The locks this process holds: the lock file's resolved path -> [fd, holders, pid].
_HELD: dict[str, list[int]] = {}


class RunLock:
    """The lock of the run folder ``directory`` (which must exist); :meth:`acquire` takes it."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._fd: int | None = None
        self._key = ""

    @property
    def held(self) -> bool:
        return self._fd is not None

    def covers(self, directory: str | Path) -> bool:
        """Whether this lock, held, is the lock of ``directory``."""
        return self.held and Path(directory).resolve() == self.directory.resolve()

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`RunLocked` naming the process that holds it."""
        if self._fd is not None:
            return self
        key = str(self.path.resolve())
        shared = _HELD.get(key)
        if shared is not None and shared[2] == os.getpid():  # this process holds it already
            shared[1] += 1
            self._fd, self._key = shared[0], key
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise FitnasError(f"cannot create the lock file {str(self.path)!r}: "
                              f"{err.strerror or err}") from None
        try:
            locked = _try_lock(fd)
        except OSError as err:  # e.g. ENOLCK on a file system without locks
            os.close(fd)
            raise FitnasError(f"cannot lock {str(self.path)!r}: {err.strerror or err}") from None
        if not locked:
            holder = self._holder(fd)
            os.close(fd)
            raise RunLocked(self.directory, holder)
        info = {"pid": os.getpid(), "command": _command(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, _INFO_OFFSET)
        os.lseek(fd, _INFO_OFFSET, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd, self._key = fd, key
        _HELD[key] = [fd, 1, os.getpid()]
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        shared = _HELD.get(self._key)
        if shared is not None and shared[0] == fd:
            shared[1] -= 1
            if shared[1] > 0:
                return  # another holder in this process keeps it
            del _HELD[self._key]
        try:
            os.ftruncate(fd, _INFO_OFFSET)
            _unlock(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _holder(fd: int) -> dict[str, Any] | None:
        """What the holder wrote (it writes right after locking: wait a moment for it)."""
        for _ in range(20):
            os.lseek(fd, _INFO_OFFSET, os.SEEK_SET)
            text = os.read(fd, 4096).decode(errors="replace").strip()
            if text:
                try:
                    data = json.loads(text)
                except ValueError:
                    return None
                return data if isinstance(data, dict) else None
            time.sleep(0.025)
        return None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass
