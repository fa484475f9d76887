"""Real `fitnas` processes for the signal, kill and lock tests: a tiny synthetic search (no file
is read, nothing under ../shared), its store read while it runs, and its processes in /proc."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

#: Trials of about a second each (enough to be running when a signal comes).
DATA = "synthetic:1x8x8,classes=2,n=2000,test=16"


def fitnas(*args: str) -> list[str]:
    return [sys.executable, "-m", "fitnas", *args]


def search_args(out: Path, budget: int, workers: int = 2, *extra: str) -> list[str]:
    return fitnas("search", "--data", DATA, "--epochs", "1", "--device", "none",
                  "--budget", str(budget), "--workers", str(workers), "--seed", "3",
                  "--out", str(out), "--json", *extra)


def start(args: list[str]) -> subprocess.Popen[bytes]:
    """A process in its own session (its own process group, as a shell job is)."""
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def count(db: Path, where: str = "state != 'RUNNING'") -> int:
    """Trials matching ``where`` in a store another process writes (0 while unreadable)."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)) as con:
            return int(con.execute(f"SELECT COUNT(*) FROM trials WHERE {where}").fetchone()[0])
    except sqlite3.Error:
        return 0


def wait_for(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 240.0
             ) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"exited early ({proc.returncode}): {stderr_of(proc)}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def stderr_of(proc: subprocess.Popen[bytes], timeout: float = 120.0) -> str:
    """Everything the process (and any child still holding its stderr) wrote."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("stderr still open: a process outlived the run") from None
    return (err or b"").decode(errors="replace")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """Those of ``pids`` still alive after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def trials(db: Path) -> list[tuple]:
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return con.execute("SELECT number, state, encoding, accuracy, result FROM trials "
                           "ORDER BY number").fetchall()


def meta(db: Path, key: str) -> object:
    with closing(sqlite3.connect(db)) as con:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0]) if row else None


def assert_complete(db: Path, budget: int) -> None:
    """The run spent its budget: every trial number once, none left running, and the trials
    that count (COMPLETE, FAILED) number ``budget``."""
    rows = trials(db)
    numbers = [r[0] for r in rows]
    assert numbers == list(range(len(rows))), numbers
    assert not [r for r in rows if r[1] == "RUNNING"]
    assert sum(r[1] in ("COMPLETE", "FAILED") for r in rows) == budget


def no_traceback(text: str) -> None:
    for word in ("Traceback", "BrokenPipeError", "EOFError", "ConnectionResetError"):
        assert word not in text, text
