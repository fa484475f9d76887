"""SIGINT and SIGTERM stop a real `fitnas search` cleanly: finished trials kept, running ones left
RUNNING and marked interrupted, workers gone, outputs written, one line, exit code 128 + the
signal; `fitnas resume` then runs the interrupted trials and spends the budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from .procs import (
    assert_complete,
    children,
    count,
    fitnas,
    gone_within,
    meta,
    no_traceback,
    search_args,
    start,
    stderr_of,
    trials,
    wait_for,
)

pytestmark = pytest.mark.slow

BUDGET = 8


@pytest.mark.parametrize(("sig", "to_group", "workers"), [
    (signal.SIGTERM, False, 2),  # `kill PID`
    (signal.SIGINT, True, 2),  # Ctrl-C: the whole process group, workers included
    (signal.SIGINT, True, 1),  # one worker: the training in the driver is interrupted
], ids=["sigterm-2-workers", "ctrl-c-2-workers", "ctrl-c-in-process"])
def test_a_signal_stops_the_search_cleanly_and_resume_completes(
        tmp_path: Path, sig: signal.Signals, to_group: bool, workers: int) -> None:
    out = tmp_path / "run"
    db = out / "study.db"
    proc = start(search_args(out, BUDGET, workers))
    wait_for(proc, lambda: count(db) >= 2 and count(db, "state = 'RUNNING'") > 0)
    pool = children(proc.pid)
    before = {r for r in trials(db) if r[1] != "RUNNING"}
    if to_group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    err = stderr_of(proc)
    assert proc.returncode == 128 + sig, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert sig.name in lines[0] and f"fitnas resume {out}" in lines[0]
    no_traceback(err)
    assert not gone_within(pool, 10), "worker processes outlived the stop"

    rows = trials(db)
    running = [r for r in rows if r[1] == "RUNNING"]
    assert running, "a trial was running when the signal came"
    assert all(json.loads(r[4])["interrupted"] == sig.name for r in running)
    stop = meta(db, "interrupted")
    assert isinstance(stop, dict) and stop["signal"] == sig.name
    assert stop["trials"] == [r[0] for r in running]
    assert before <= {r for r in rows if r[1] != "RUNNING"}  # finished trials kept as they were
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["COMPLETE"] == sum(r[1] == "COMPLETE" for r in rows)
    assert (out / "pareto.csv").exists() and (out / "best" / "arch.json").exists()

    resumed = subprocess.run(fitnas("resume", str(out), "--workers", str(workers), "--json"),
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    no_traceback(resumed.stderr.decode())
    assert_complete(db, BUDGET)
    final = {r[0]: r for r in trials(db)}
    assert all(final[r[0]][1] != "RUNNING" for r in running)  # the interrupted ones ran again


def test_a_program_s_own_handlers_are_left_alone() -> None:
    from fitnas.interrupt import StopSignals

    def own(signum: int, frame: object) -> None:
        return None

    old = signal.signal(signal.SIGTERM, own)
    try:
        with StopSignals():
            assert signal.getsignal(signal.SIGTERM) is own
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, old)
