"""Kill a real `fitnas search` process with SIGKILL at random moments and resume it each time:
the finished trials equal those of an uninterrupted run, none lost or repeated; with two worker
processes, no traceback and no orphan process either."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from .procs import (
    assert_complete,
    children,
    count,
    fitnas,
    gone_within,
    no_traceback,
    start,
    stderr_of,
    wait_for,
)
from .procs import search_args as synthetic_search_args
from .procs import trials as stored_trials

TABLE = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "nb201_12epoch.csv"
pytestmark = pytest.mark.slow
needs_table = pytest.mark.skipif(not TABLE.exists(), reason="needs ../shared/benchmarks")

TRIALS = 500


def search_args(out: Path) -> list[str]:
    return [sys.executable, "-m", "fitnas", "search", "--space", "nb201", "--table", str(TABLE),
            "--metric", "cifar10_val", "--device", "none", "--max-peak-mem", "300KiB",
            "--budget", str(TRIALS), "--seed", "7", "--out", str(out), "--json"]


def finished_trials(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return con.execute("SELECT number, state, encoding, accuracy, costs, violations FROM "
                           "trials WHERE state != 'RUNNING' ORDER BY number").fetchall()


def finished_count(db: Path) -> int:
    """Finished trials in a store another process is writing (0 while it cannot be read)."""
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as con:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state != 'RUNNING'"
                               ).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0


@needs_table
def test_killed_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    subprocess.run(search_args(straight), check=True, capture_output=True, timeout=600)
    expected = finished_trials(straight / "study.db")
    assert len([t for t in expected if t[1] == "COMPLETE"]) == TRIALS
    assert any(t[1] == "INFEASIBLE" for t in expected)  # the limit bites: both kinds recorded

    killed = tmp_path / "killed"
    rng = random.Random(1)
    # kill at random moments of progress (so the test does not depend on the machine's speed):
    # each run is killed once the store holds its target of finished trials
    targets = sorted(rng.sample(range(1, TRIALS - 50), 4))
    kills = 0
    first = True
    for target in targets:
        args = search_args(killed) if first else [sys.executable, "-m", "fitnas", "resume",
                                                   str(killed), "--json"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if finished_count(killed / "study.db") >= target:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=60)
        if (killed / "study.db").exists():
            first = False
            partial = finished_trials(killed / "study.db")
            assert partial == expected[: len(partial)]  # nothing lost, nothing different
    assert kills >= 2, kills
    subprocess.run([sys.executable, "-m", "fitnas", "resume", str(killed), "--json"], check=True,
                   capture_output=True, timeout=600)
    assert finished_trials(killed / "study.db") == expected


def test_killed_with_two_workers_leaves_no_orphan_and_resumes(tmp_path: Path) -> None:
    """SIGKILL the driver of a `--workers 2` search, then SIGKILL its resume, each while trials
    run: no traceback in either, their worker processes die with them, and a last resume
    spends the budget with every trial number once and the finished trials unchanged."""
    budget = 12
    out = tmp_path / "run"
    db = out / "study.db"
    kept: set[tuple] = set()
    runs = [synthetic_search_args(out, budget),
            fitnas("resume", str(out), "--workers", "2", "--json")]
    for target, args in zip((3, 6), runs):
        proc = start(args)
        wait_for(proc, lambda: count(db) >= target and count(db, "state = 'RUNNING'") > 0)  # noqa: B023
        pool = children(proc.pid)
        assert len(pool) >= 2, pool  # the two workers (and multiprocessing's tracker)
        os.kill(proc.pid, signal.SIGKILL)
        no_traceback(stderr_of(proc))
        assert not gone_within(pool, 10), "worker processes outlived their driver"
        finished = {r for r in stored_trials(db) if r[1] != "RUNNING"}
        assert kept <= finished  # nothing finished is lost or changed
        kept = finished
    last = subprocess.run(fitnas("resume", str(out), "--workers", "2", "--json"),
                          capture_output=True, timeout=300)
    assert last.returncode == 0, last.stderr.decode()
    no_traceback(last.stderr.decode())
    assert_complete(db, budget)
    assert kept <= set(stored_trials(db))
