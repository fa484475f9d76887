"""One writer per run folder: a second `search --resume`, `search --force` or `resume` of a folder
that a live process holds exits 2 with one line naming that process and changes nothing; the
lock goes with its holder (SIGKILL included); a Study from Python is refused the same way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fitnas.errors import FitnasError
from fitnas.study.lock import LOCK_FILE, RunLock, RunLocked
from fitnas.study.setup import SearchSettings, build_study

from .procs import count, fitnas, search_args, start, stderr_of, trials, wait_for

SMALL = "synthetic:1x8x8,classes=2,n=32,test=8"


def holder_pid(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / LOCK_FILE).read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_a_second_writer_is_refused_and_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    db = out / "study.db"
    proc = start(search_args(out, 500, 1))
    wait_for(proc, lambda: count(db) >= 1 and holder_pid(out) == proc.pid)
    weights = sorted(p.name for p in (out / "trials").iterdir())
    for argv in (["resume", str(out), "--budget", "1"],
                 ["search", "--resume", "--out", str(out), "--budget", "1"],
                 ["search", "--force", "--out", str(out), "--budget", "1", "--device", "none",
                  "--data", SMALL]):
        second = subprocess.run(fitnas(*argv), capture_output=True, timeout=120)
        err = second.stderr.decode()
        assert second.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and f"process {proc.pid}" in err, err
        assert "Traceback" not in err
    assert proc.poll() is None  # the holder runs on, its folder untouched by --force
    assert db.exists() and count(db) >= 1
    assert set(weights) <= {p.name for p in (out / "trials").iterdir()}
    os.kill(proc.pid, signal.SIGKILL)
    stderr_of(proc)
    done = count(db)
    after = subprocess.run(fitnas("resume", str(out), "--budget", str(done), "--json"),
                           capture_output=True, timeout=300)
    assert after.returncode == 0, after.stderr.decode()  # the dead holder's lock is gone
    assert len([r for r in trials(db) if r[1] != "RUNNING"]) >= done


def test_a_study_on_a_folder_another_process_holds_is_refused(tmp_path: Path) -> None:
    code = ("import sys, time; from fitnas.study.lock import RunLock; "
            "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        with pytest.raises(RunLocked, match=f"process {holder.pid}") as err:
            build_study(SearchSettings(data=SMALL, device=None), tmp_path)
        assert isinstance(err.value, FitnasError) and err.value.pid == holder.pid
        assert not (tmp_path / "study.db").exists()  # refused before anything was written
    finally:
        holder.kill()
        holder.wait()
    study = build_study(SearchSettings(data=SMALL, device=None), tmp_path)
    study.close()


def locked_elsewhere(folder: Path) -> bool:
    """Whether another process finds the folder's lock taken (flock itself, no fitnas)."""
    code = ("import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n    sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code, str(folder / LOCK_FILE)],
                          timeout=60).returncode == 1


def test_one_process_shares_its_lock_and_close_releases_it(tmp_path: Path) -> None:
    settings = SearchSettings(data=SMALL, device=None)
    first = build_study(settings, tmp_path)
    again = build_study(settings, tmp_path, resume=True)  # this process holds it already
    assert holder_pid(tmp_path) == os.getpid() and locked_elsewhere(tmp_path)
    first.close()
    assert locked_elsewhere(tmp_path)  # `again` still holds it
    again.close()
    assert not locked_elsewhere(tmp_path) and holder_pid(tmp_path) is None
    with build_study(settings, tmp_path, resume=True):
        assert locked_elsewhere(tmp_path)
    assert not locked_elsewhere(tmp_path)
    lock = RunLock(tmp_path).acquire()
    assert locked_elsewhere(tmp_path)
    del lock  # collected: released
    assert not locked_elsewhere(tmp_path)
