"""Stopping a search cleanly on SIGINT (Ctrl-C) and SIGTERM.

While :meth:`Study.optimize <fitnas.study.Study.optimize>` runs in the main thread it replaces
the default handlers of SIGINT and SIGTERM (Python's ``KeyboardInterrupt`` handler, the
operating system's default, or the ``fitnas`` command's own) with :class:`StopSignals`; a
handler a program installed itself, or a signal it ignores (``nohup``, a background job), is
left alone. The first signal only sets a flag: the loop stops starting trials, and within a
second (the workers' poll) it stops waiting. Evaluations in the driver's own process (one
worker) and the strategy's ``ask`` are interrupted at once instead, since they write nothing.
Storage writes are never interrupted. Then the Study terminates the workers, leaves the trials
that were running ``RUNNING`` with ``result["interrupted"]`` naming the signal (``fitnas
resume`` runs them again, as after a kill) and raises :class:`SearchInterrupted`, a
``KeyboardInterrupt`` with the signal, the trials interrupted and the exit code a shell
reports for that signal (130 for SIGINT, 143 for SIGTERM).

Worker processes ignore SIGINT (a Ctrl-C reaches the whole process group; the driver decides)
and die with their driver (``fitnas.study.workers``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["SearchInterrupted", "StopSignals", "Stopped", "raise_stopped", "signal_name"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Stopped(KeyboardInterrupt):
    """The process was asked to stop by signal ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum = signum

    @property
    def signame(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process that a signal ended: 128 + the signal."""
        return 128 + self.signum


class SearchInterrupted(Stopped):
    """``Study.optimize`` stopped on a signal: finished trials are stored, the trials in
    ``running`` were left ``RUNNING`` (a resume runs them again), the workers are gone."""

    def __init__(self, signum: int, running: tuple[int, ...] = ()) -> None:
        super().__init__(signum)
        self.running = tuple(running)


def raise_stopped(signum: int, frame: FrameType | None) -> None:
    """A handler that turns a signal into :class:`Stopped` (the ``fitnas`` command's SIGTERM
    handler outside the search loop)."""
    raise Stopped(signum)


class _StopNow(BaseException):
    """Raised by the handler inside :meth:`StopSignals.interruptible` (never escapes)."""


class StopSignals:
    """Context manager: SIGINT and SIGTERM set :attr:`signum` instead of raising."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        self._raise = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only; handlers can be set only there
        for sig in SIGNALS:
            current = signal.getsignal(sig)
            if current in (signal.SIG_DFL, signal.default_int_handler, raise_stopped):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @property
    def stopping(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self._raise:
            self._raise = False
            raise _StopNow

    @contextmanager
    def interruptible(self, enabled: bool = True) -> Iterator[None]:
        """A region a signal interrupts at once (it must write nothing that must stay whole);
        raises ``_StopNow`` at its start when a signal already came."""
        if not enabled:
            yield
            return
        if self.signum is not None:
            raise _StopNow
        self._raise = True
        try:
            yield
        finally:
            self._raise = False
