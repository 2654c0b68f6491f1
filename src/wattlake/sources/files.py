"""Meter and profile files: `read_*` does the file I/O, `parse_*` is pure (bytes in, tables out).

Layouts (the header line must match, case-insensitive, surrounding spaces ignored):

- `lcl`: `LCLid,tstp,energy(kWh/hh)` — Kaggle "Smart meters in London" half-hourly blocks;
  energy in kWh per half hour, text that may be `Null`.
- `meter-csv`: `meter_id,timestamp,value,unit` — unit W, watts, kW, kWh, Wh or empty.
- `users`: the user-profile history written by `wattlake generate` (one row per version).
- `lcl-households`: the LCL `informations_households.csv`, landed as `users` rows
  (`wattlake.sources.lcl_users`); also accepted under `--format lcl`.

A line that cannot be split into the layout's fields is a dead letter (line number, raw
text, reason); everything else is kept as raw text for bronze.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.errors import InputError
from wattlake.lake.catalog import USER_DELETED, USER_PROFILE_COLUMNS

LAYOUTS: dict[str, tuple[str, ...]] = {
    "lcl": ("LCLid", "tstp", "energy(kWh/hh)"),
    "meter-csv": ("meter_id", "timestamp", "value", "unit"),
    "users": USER_PROFILE_COLUMNS,
    "lcl-households": ("LCLid", "stdorToU", "Acorn", "Acorn_grouped", "file"),
}
READING_FORMATS = ("lcl", "meter-csv")
# Bronze column names for each layout's fields.
BRONZE_FIELDS: dict[str, tuple[str, ...]] = {
    "lcl": ("meter_id", "timestamp", "value"),
    "meter-csv": ("meter_id", "timestamp", "value", "unit"),
    "users": LAYOUTS["users"],
}
_USER_FLOATS = ("panel_kwp", "panel_tilt_deg", "panel_azimuth_deg", "latitude", "longitude")


@dataclass(frozen=True)
class ParsedFile:
    """One input file split into good rows (raw text) and dead letters."""

    source_file: str
    fmt: str
    checksum: str  # SHA-256 of the file's (decompressed) bytes, hex
    rows: pa.Table  # the layout's bronze fields as strings + `_row_number` (line number)
    dead: pa.Table  # line_number, raw_text, reason
    lines: int  # data lines in the file (header excluded)


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip; `InputError` for unusable files."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory (list its files or pass the directory alone)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b" or path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: unreadable gzip ({exc})") from None
    if not raw.strip():
        raise InputError(f"{path}: file is empty")
    return raw


HEAD_BYTES = 1 << 16  # what `read_head` reads: enough for any header line we know


def read_head(path: Path) -> bytes:
    """The file's first `HEAD_BYTES` bytes (decompressed), after checking what `read_bytes`
    would: it exists, is a file, is not empty; a gzip file is decompressed to its end (in
    pieces, nothing kept), so a broken one is found before anything is written."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory (list its files or pass the directory alone)")
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b" or path.suffix == ".gz":
        head = b""
        try:
            with gzip.open(path, "rb") as g:
                head = g.read(HEAD_BYTES)
                while g.read(1 << 24):
                    pass
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: unreadable gzip ({exc})") from None
    else:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
    if not head.strip() and (len(head) < HEAD_BYTES or not read_bytes(path).strip()):
        raise InputError(f"{path}: file is empty")
    return head


def header_of(data: bytes) -> tuple[str, ...]:
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    return tuple(f.strip() for f in first.split(","))


def detect_format(data: bytes) -> str | None:
    """The layout whose header the data starts with, or None."""
    head = tuple(h.lower() for h in header_of(data))
    for fmt, cols in LAYOUTS.items():
        if head == tuple(c.lower() for c in cols):
            return fmt
    return None


def check_format(data: bytes, fmt: str | None, name: str) -> str:
    """Validate the header against `fmt` (or detect it); `InputError` when it does not fit."""
    found = detect_format(data)
    if fmt is None:
        if found is None:
            raise InputError(
                f"{name}: unknown layout, header is '{','.join(header_of(data))}' "
                f"(give --format; known: {', '.join(LAYOUTS)})"
            )
        return found
    if fmt not in LAYOUTS:
        raise InputError(f"unknown format '{fmt}' (known: {', '.join(LAYOUTS)})")
    if fmt == "lcl" and found == "lcl-households":
        return found  # the LCL data set's household list, given with its readings
    if found != fmt:
        raise InputError(
            f"{name}: not the {fmt} layout: header is '{','.join(header_of(data))}', "
            f"expected '{','.join(LAYOUTS[fmt])}'"
        )
    return fmt


def _decode_lines(data: bytes) -> tuple[list[str], dict[int, str]]:
    """Split into text lines; lines that are not UTF-8 are returned separately (index→repr)."""
    bad: dict[int, str] = {}
    lines = []
    for i, raw in enumerate(data.split(b"\n")):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad[i] = raw.decode("utf-8", errors="backslashreplace")
            lines.append("")
    return lines, bad


def split_lines(data: bytes) -> tuple[pa.Array, dict[int, str]]:
    """The text lines of `data` as an Arrow string array (no Python object per line) and the
    lines that are not UTF-8 (index → repr, their entry in the array is empty)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines, bad = _decode_lines(data)
        return pa.array(lines, pa.string()), bad
    typ = pa.string() if len(data) < 2**31 - 1 else pa.large_string()
    whole = pa.array([text], pa.large_string())
    return pc.split_pattern(whole, "\n").flatten().cast(typ), {}


def parse_lines(data: bytes, fmt: str, name: str) -> ParsedFile:
    """Pure parser: header checked, each data line either a row of raw fields or a dead letter."""
    fmt = check_format(data, fmt, name)
    if fmt not in BRONZE_FIELDS:
        raise InputError(f"{name}: the {fmt} layout is not parsed line by line")
    fields = BRONZE_FIELDS[fmt]
    n_fields = len(LAYOUTS[fmt])
    lines, bad_utf8 = split_lines(data)
    arr = lines.slice(1)
    if len(arr) and not arr[len(arr) - 1].as_py().strip():
        arr = arr.slice(0, len(arr) - 1)  # the final newline
    arr = pc.replace_substring_regex(arr, r"\r$", "")
    first_line = 2  # the header is line 1

    def body(i: int) -> str:
        """The text of data line `i` (0 = the line after the header)."""
        return str(arr[i].as_py())

    dead_ln: list[int] = []
    dead_raw: list[str] = []
    dead_reason: list[str] = []

    def dead(ln: int, raw: str, reason: str) -> None:
        dead_ln.append(ln)
        dead_raw.append(raw)
        dead_reason.append(reason)

    line_no = pa.array(np.arange(first_line, first_line + len(arr), dtype=np.int64))
    quoted = pc.match_substring(arr, '"')
    parts = pc.split_pattern(arr, ",")
    counts = pc.list_value_length(parts)
    simple_ok = pc.and_(pc.equal(counts, n_fields), pc.invert(quoted))

    # Lines with quotes go through the csv module (rare in meter exports).
    extra_rows: list[list[str]] = []
    extra_ln: list[int] = []
    for i in pc.indices_nonzero(quoted).to_pylist():
        rec = next(csv.reader([body(i)]), [])
        if len(rec) == n_fields:
            extra_rows.append(rec)
            extra_ln.append(i + first_line)
        else:
            dead(i + first_line, body(i), f"expected {n_fields} fields, got {len(rec)}")
    for i in pc.indices_nonzero(pc.and_(pc.invert(simple_ok), pc.invert(quoted))).to_pylist():
        idx = i + 1  # index into `lines`
        if idx in bad_utf8:
            dead(i + first_line, bad_utf8[idx], "not valid UTF-8")
        elif body(i).strip() == "":
            dead(i + first_line, body(i), "empty line")
        else:
            dead(i + first_line, body(i), f"expected {n_fields} fields, got {counts[i].as_py()}")

    good = parts.filter(simple_ok)
    cols = {f: pc.utf8_trim_whitespace(pc.list_element(good, j)) for j, f in enumerate(fields)}
    table = pa.table({**cols, "_row_number": line_no.filter(simple_ok)})
    if extra_rows:
        extra = pa.table(
            {
                **{f: pa.array([r[j].strip() for r in extra_rows]) for j, f in enumerate(fields)},
                "_row_number": pa.array(extra_ln, pa.int64()),
            }
        )
        table = pa.concat_tables([table, extra]).sort_by("_row_number")

    # A reading without a meter id cannot be attributed to anything: dead letter.
    key = "user_id" if fmt == "users" else "meter_id"
    no_key = pc.equal(pc.utf8_length(table[key]), 0)
    for ln in table["_row_number"].filter(no_key).to_pylist():
        dead(ln, body(ln - first_line), f"empty {key}")
    table = table.filter(pc.invert(no_key))
    if fmt == "users":
        table = _check_user_types(table, body, first_line, dead)
    if "unit" in table.column_names:  # empty unit means "not given"
        table = table.set_column(
            table.schema.get_field_index("unit"),
            "unit",
            pc.if_else(pc.equal(table["unit"], ""), pa.scalar(None, pa.string()), table["unit"]),
        )

    dead_tbl = pa.table(
        {
            "line_number": pa.array(dead_ln, pa.int64()),
            "raw_text": pa.array(dead_raw, pa.string()),
            "reason": pa.array(dead_reason, pa.string()),
        }
    ).sort_by("line_number")
    return ParsedFile(
        source_file=name,
        fmt=fmt,
        checksum=hashlib.sha256(data).hexdigest(),
        rows=table,
        dead=dead_tbl,
        lines=len(arr),
    )


def _check_user_types(
    table: pa.Table,
    body: Callable[[int], str],
    first_line: int,
    dead: Callable[[int, str, str], None],
) -> pa.Table:
    """Profile rows whose numbers or date do not parse are dead letters (reason names the field).

    Only `effective_date` is always required; `panel_kwp` too, except on a deletion row
    (user_type `deleted`, which needs nothing but the user id and the date).
    """
    keep = pa.array([True] * table.num_rows)
    deletion = [t == USER_DELETED for t in table["user_type"].to_pylist()]
    for col in (*_USER_FLOATS, "effective_date"):
        target = pa.date32() if col == "effective_date" else pa.float64()
        values = table[col]
        ok = []
        for v, deleted in zip(values.to_pylist(), deletion, strict=True):
            try:
                pa.scalar(v).cast(target)
                ok.append(True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                required = col == "effective_date" or (col == "panel_kwp" and not deleted)
                ok.append(v == "" and not required)
        ok_arr = pa.array(ok)
        bad = pc.and_(keep, pc.invert(ok_arr))
        for ln in table["_row_number"].filter(bad).to_pylist():
            dead(ln, body(ln - first_line), f"{col} is not a valid {target}")
        keep = pc.and_(keep, ok_arr)
    return table.filter(keep)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the regular files inside named directories (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            if not files:
                raise InputError(f"{p}: directory has no files")
            out.extend(files)
        else:
            out.append(p)
    return out
