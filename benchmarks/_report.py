"""Write one benchmark's section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

__all__ = ["machine_line", "write_section"]

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section is written by the script it names, which times fitnas and the alternative side "
    "by side in one process. The machine is shared and noisy: figures are medians, and ratios "
    "matter more than absolute times.\n"
)


def machine_line() -> str:
    return (f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"Python {platform.python_version()}, torch {torch.__version__}.")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section delimited by ``<!-- name:start -->`` markers."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text)
