"""The one seam through which the app reads the time (tests travel with time-machine)."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)
