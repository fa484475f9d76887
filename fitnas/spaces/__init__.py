"""Search spaces: each samples encodings, decodes them into an ArchGraph, lists the moves
around an encoding and turns it into tokens (DESIGN.md, ``fitnas/spaces/``).

Importing this package registers every space; ``fitnas estimate SPACE:ENCODING`` finds a
registered space through ``fitnas.modelspec``, which asks this registry.
"""

from __future__ import annotations

from . import cells, chain, darts, dppnet, nb201
from ._base import (
    Encoding,
    FailValidArch,
    InvalidEncoding,
    NextTokens,
    SearchSpace,
    SpaceError,
    create_space,
    list_spaces,
    register_space,
    space_class,
)

__all__ = [
    "Encoding",
    "FailValidArch",
    "InvalidEncoding",
    "NextTokens",
    "SearchSpace",
    "SpaceError",
    "cells",
    "chain",
    "create_space",
    "darts",
    "dppnet",
    "list_spaces",
    "nb201",
    "register_space",
    "space_class",
]
