"""Text → typed values, portable across Ibis backends (no engine-specific SQL).

`try_cast` gives NULL instead of an error on DuckDB and Spark alike, so unparseable input
becomes NULL and a rule names it.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

_OFFSET = r"([+-])(\d\d):?(\d\d)$"


def parse_timestamp_utc(s: ir.StringValue) -> ir.TimestampValue:
    """ISO 8601 / LCL text to a UTC timestamp (naive, UTC); NULL when it does not parse.

    Accepts `2024-03-15T14:00:00`, `2024-03-15 14:00:00`, `2012-10-12 00:30:00.0000000`,
    a trailing `Z`, or an offset `+01:00`/`-0500` (subtracted to reach UTC). Seconds are
    required; fractional seconds are ignored (meter intervals start on whole seconds).
    """
    s = s.strip()
    well_formed = s.re_search(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")
    naive = s.substr(0, 19).replace("T", " ").try_cast("timestamp")
    # Offsets are rare: only strings longer than 19 characters not ending in Z or a
    # fraction digit can carry one, and only those pay for the extraction.
    tail = s.substr(19)
    has_offset = tail.re_search(r"[+-]\d\d:?\d\d$")
    sign = ibis.ifelse(tail.re_extract(_OFFSET, 1) == "-", -1, 1)
    hours = tail.re_extract(_OFFSET, 2).try_cast("int32")
    minutes = tail.re_extract(_OFFSET, 3).try_cast("int32")
    offset_min = (sign * (hours * 60 + minutes)).fill_null(0)
    ts = ibis.ifelse(has_offset, naive - offset_min.as_interval("m"), naive)
    return ibis.ifelse(well_formed, ts, ibis.null("timestamp"))


def parse_number(s: ir.StringValue) -> ir.FloatingValue:
    """Decimal text to float64; NULL for empty, `Null`, non-numeric, NaN or infinite."""
    x = s.strip().try_cast("float64")
    return ibis.ifelse(x.isnan() | x.isinf(), ibis.null("float64"), x)


def round_half_up(x: ir.NumericValue, decimals: int) -> ir.FloatingValue:
    """Round to `decimals` places, half away from zero, identically on every engine.

    Engines' own ROUND differ on binary ties (DuckDB and Spark disagree on e.g. 1.97625);
    this is plain IEEE arithmetic, so DuckDB and Spark give the same double.
    """
    scale = 10.0**decimals
    y = x * scale
    up = (y + 0.5).floor().cast("float64")
    down = -((-y + 0.5).floor().cast("float64"))
    return (ibis.ifelse(y >= 0, up, down) / scale).cast("float64")
