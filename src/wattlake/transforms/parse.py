"""Text → typed values, portable across Ibis backends (no engine-specific SQL).

`try_cast` gives NULL instead of an error on DuckDB and Spark alike, so unparseable input
becomes NULL and a rule names it.

Each parser has a fast path for the text meters actually send (no surrounding whitespace,
no UTC offset) and falls back to the general rule for the rest; both give the same value, the
fast path only skips work (trimming and offset extraction cost more than the cast itself).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

_OFFSET = r"([+-])(\d\d):?(\d\d)$"
# `[0-9]` rather than `\d`: the same ASCII digits on RE2 (DuckDB) and Java (Spark), and
# DuckDB matches it about twice as fast.
_D = "[0-9]"
_DATETIME = rf"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[T ]{_D}{{2}}:{_D}{{2}}:{_D}{{2}}(\.{_D}+)?"
_LOCAL = rf"^{_DATETIME}Z?$"
_WELL_FORMED = rf"^{_DATETIME}(Z|[+-]{_D}{{2}}:?{_D}{{2}})?$"


def _parse_timestamp_general(s: ir.StringValue) -> ir.TimestampValue:
    """The general rule of `parse_timestamp_utc` (trim, then offsets)."""
    s = s.strip()
    well_formed = s.re_search(_WELL_FORMED)
    naive = s.substr(0, 19).try_cast("timestamp")
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


def parse_timestamp_utc(s: ir.StringValue) -> ir.TimestampValue:
    """ISO 8601 / LCL text to a UTC timestamp (naive, UTC); NULL when it does not parse.

    Accepts `2024-03-15T14:00:00`, `2024-03-15 14:00:00`, `2012-10-12 00:30:00.0000000`,
    a trailing `Z`, or an offset `+01:00`/`-0500` (subtracted to reach UTC), with
    surrounding whitespace. Seconds are required; fractional seconds are ignored (meter
    intervals start on whole seconds). Both engines cast `T` and ` ` separators alike.
    """
    local = s.re_search(_LOCAL)  # the common case: already UTC/local text, nothing to trim
    return ibis.ifelse(local, s.substr(0, 19).try_cast("timestamp"), _parse_timestamp_general(s))


def parse_number(s: ir.StringValue) -> ir.FloatingValue:
    """Decimal text to float64; NULL for empty, `Null`, non-numeric, NaN or infinite.

    Surrounding whitespace is ignored (the cast ignores it where it can; otherwise the text is
    trimmed and cast again, so both give the value of the trimmed text).
    """
    direct = s.try_cast("float64")
    x = ibis.ifelse(direct.notnull(), direct, s.strip().try_cast("float64"))
    # Not `isinf()`: Ibis 12 compiles it to FALSE on PySpark.
    return ibis.ifelse(x.isnan() | (x.abs() == float("inf")), ibis.null("float64"), x)


# What Ibis' `strip()` removes on every backend.
WHITESPACE = (" ", "\t", "\n", "\r", "\x0b", "\x0c")


def strip_fast(s: ir.StringValue) -> ir.StringValue:
    """`s.strip()`, skipping the trim (the costly part) when `s` neither starts nor ends with
    whitespace, the common case for identifiers and units (prefix/suffix tests are cheap)."""
    padded = ibis.literal(False)
    for c in WHITESPACE:
        padded = padded | s.like(c + "%") | s.like("%" + c)
    return ibis.ifelse(padded, s.strip(), s)


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


def round_half_away(x: ir.NumericValue, decimals: int) -> ir.FloatingValue:
    """`round_half_up` for finite and infinite `x`, written without a conditional so that an
    engine evaluates `x` once (DuckDB does not share subexpressions inside CASE branches)."""
    scale = 10.0**decimals
    y = x * scale
    return ((y.sign() * (y.abs() + 0.5).floor().cast("float64")) / scale).cast("float64")
