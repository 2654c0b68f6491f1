"""SQL literals for Delta predicates (`Lake.replace_where`, `Lake.delete`): the one place that
quotes values into SQL text, so no caller escapes strings itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def sql_str(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(values: Iterable[str]) -> str:
    """A SQL IN-list of string literals; `(NULL)` (matches nothing) when empty."""
    quoted = [sql_str(v) for v in values]
    return "(" + ", ".join(quoted) + ")" if quoted else "(NULL)"


def sql_ts(value: dt.datetime) -> str:
    """A UTC timestamp literal with microseconds, e.g. `'2024-03-01T00:00:00.000000Z'`
    (naive values are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return "'" + value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"


def sql_num(value: float) -> str:
    """A float literal that round-trips exactly (`repr`)."""
    return repr(float(value))


def sql_dates_in(dates: Iterable[dt.date]) -> str:
    """`date IN (...)` over ISO dates."""
    return "date IN " + sql_in(d.isoformat() for d in dates)
