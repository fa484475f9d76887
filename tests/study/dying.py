"""Evaluators for the worker-death tests (importable by spawned worker processes)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from fitnas.evaluators import EvalResult, TableEvaluator


class DyingTableEvaluator(TableEvaluator):
    """Kills its own process (a real worker death) the first time it sees each key in
    ``die_once``, and every time for keys in ``die_always``."""

    def __init__(self, *args: Any, markers: str, die_once: list[str], die_always: list[str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.markers, self.die_once, self.die_always = markers, die_once, die_always

    def _evaluate(self, candidate: Any, *, parent: Any, test: bool, budget: str | None = None
                  ) -> EvalResult:
        key = self.key_of(candidate)
        marker = Path(self.markers) / hashlib.sha1(key.encode()).hexdigest()
        if key in self.die_always or (key in self.die_once and not marker.exists()):
            marker.write_text(key)
            os._exit(3)
        return super()._evaluate(candidate, parent=parent, test=test)
