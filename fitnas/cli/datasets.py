"""``fitnas datasets``: the dataset names, how to write them and where each reads from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..data import dataset_info, list_datasets

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "datasets",
        help="list the datasets and where each reads from",
        description="List the datasets 'fitnas train --data' accepts, the form of each spec "
        "and where it reads its files from. Nothing is ever downloaded.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(handler=run)


def _available(name: str) -> str:
    if name == "fashion-mnist":
        from ..data.idx import DEBIAN_FASHION_MNIST

        return "installed" if DEBIAN_FASHION_MNIST.is_dir() else (
            "not installed (apt-get install dataset-fashion-mnist, or give :DIR)")
    if name == "digits":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            return "needs scikit-learn"
        return "bundled"
    if name == "synthetic":
        return "always"
    return "needs DIR"


def run(args: argparse.Namespace) -> int:
    rows = []
    for name in list_datasets():
        info = dataset_info(name)
        rows.append({"name": name, "form": info.form, "reads_from": info.reads_from,
                     "description": info.description, "available": _available(name)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="datasets (fitnas train --data SPEC)")
    for col in ("spec", "reads from", "what", "here"):
        t.add_column(col)
    for row in rows:
        t.add_row(row["form"], row["reads_from"], row["description"], row["available"])
    Console().print(t)
    return 0
