"""Reading the comments of a device profile's [compute] and [power] tables (shared by tests)."""

from __future__ import annotations

import re

__all__ = ["compute_keys"]


def compute_keys(text: str) -> tuple[list[str], list[str]]:
    """``(keys, uncommented)``: every key of [compute], its sub-tables and [power] in the TOML
    ``text`` (as ``table.key``), and those with no comment line directly above them."""
    table = ""
    keys: list[str] = []
    missing: list[str] = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        stripped = line.strip()
        header = re.fullmatch(r"\[([^\]]+)\]", stripped)
        if header:
            table = header.group(1).strip()
            continue
        key = re.match(r'("?[A-Za-z0-9_.]+"?)\s*=', stripped)
        if key and (table in ("compute", "power") or table.startswith("compute.")):
            name = f"{table}.{key.group(1)}"
            keys.append(name)
            if k == 0 or not lines[k - 1].lstrip().startswith("#"):
                missing.append(name)
    return keys, missing
