"""Element types a deployment may use, and their bytes per element (paper 002's ``B_pe``)."""

from __future__ import annotations

from ..errors import FitnasError

__all__ = ["DTYPE_BYTES", "bytes_per_element"]

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "int8": 1}


def bytes_per_element(dtype: str) -> int:
    """Bytes per element of ``dtype``; an unknown name lists the accepted ones."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise FitnasError(
            f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPE_BYTES)}"
        ) from None
