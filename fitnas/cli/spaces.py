"""``fitnas spaces``: the registered search spaces, one line each; ``--sample`` shows encodings."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import FitnasError
from ..units import parse_shape

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "spaces",
        help="list the search spaces",
        description="List the registered search spaces with a one-line description each. "
        "With NAME, show that space's configuration and --sample K encodings drawn from it "
        "(each usable as MODEL in `fitnas estimate NAME:ENCODING`).",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="one space to describe")
    p.add_argument("--sample", type=int, default=0, metavar="K",
                   help="print K sampled encodings of NAME (seeds 0..K-1)")
    p.add_argument("--input", metavar="SHAPE", help="input shape for NAME, e.g. 1x1x8x8")
    p.add_argument("--classes", type=int, help="number of classes for NAME")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..spaces import create_space, list_spaces, space_class

    if args.name is None:
        if args.sample or args.input or args.classes is not None:
            raise FitnasError("--sample, --input and --classes need a space NAME; "
                              f"one of {', '.join(list_spaces())}")
        rows = {name: space_class(name).summary for name in list_spaces()}
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            width = max(len(n) for n in rows)
            for name, summary in rows.items():
                print(f"{name.ljust(width)}  {summary}")
        return 0
    if args.sample < 0:
        raise FitnasError(f"--sample must be 0 or more, got {args.sample}")
    shape = parse_shape(args.input) if args.input else None
    space = create_space(args.name, input_shape=shape, classes=args.classes)
    samples = [space.format(space.sample(seed)) for seed in range(args.sample)]
    if args.json:
        print(json.dumps({"name": space.name, "summary": space.summary,
                          "config": space.get_config(), "samples": samples}, indent=2))
        return 0
    print(f"{space.name}: {space.summary}")
    for key, value in space.get_config().items():
        print(f"  {key} = {value}")
    for text in samples:
        print(text)
    return 0
