"""Simulated time: durations with units (``90s``, ``30m``, ``2h``, ``7d``) as seconds."""

from __future__ import annotations

import re

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
MAX_SECONDS = 1e9  # about 31.7 years: any longer simulated span is a typo
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number (seconds) or a string such as ``"90s"`` or ``"2h"``.

    Examples
    --------
    >>> parse_duration("30m")
    1800.0
    >>> parse_duration(0)
    0.0
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ValueError(f"a duration is a finite number of seconds >= 0, not {value!r}")
        return _bounded(float(value))
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use a number with a unit: 90s, 30m, 2h, 7d)")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use a number with a unit: 90s, 30m, 2h, 7d)")
    return _bounded(float(match.group(1)) * UNITS[match.group(2) or "s"])


def _bounded(seconds: float) -> float:
    if seconds > MAX_SECONDS:
        raise ValueError(f"{seconds:.3g} s is more than {MAX_SECONDS:.0e} s (about 31 years)")
    return seconds


def format_time(seconds: float) -> str:
    """Simulated time as ``d+hh:mm:ss`` for progress bars and reports."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d+{hours:02d}:{minutes:02d}:{secs:02d}"
