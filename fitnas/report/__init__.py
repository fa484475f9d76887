"""What a person reads: tables and charts."""

from __future__ import annotations

__all__: list[str] = []
