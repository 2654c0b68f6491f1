"""The smart-meter-etl case (seeds/smart-meter-etl.md): half-hourly readings as JSON files and
a SQLite database of meterpoints, products and agreements.

`read_*` does the file I/O; `parse_*` and `validate_agreements` are pure (bytes / tables in,
tables out). Column names follow the public versions of this case study.

Readings (`--format readings-json`), one file per day (any number of days per file works):

- a JSON array of objects, or JSON lines (one object per line; blank lines are skipped);
- each object: `meterpoint_id` (string or integer), `interval_start` (string, ISO 8601, the
  start of the half hour, UTC unless it carries an offset), `consumption_delta` (number, kWh in
  the interval, or `null` = no value), optionally `unit` (string, default `kWh`). Other fields
  are ignored.
- Numbers are kept as the text written in the file (`0.2500` stays `0.2500`).
- A record that is not an object, lacks a field or has a field of the wrong type is a dead
  letter (record number = 1-based position in the array, or the line number for JSON lines;
  raw text; reason). A file that is not JSON at all, or a broken JSON array, is an
  `InputError` (nothing is written).

Agreements (`--format sqlite-agreements`), one SQLite database with three tables (extra
tables and columns are ignored):

- `meterpoints(meterpoint_id, region)`
- `products(product_id, display_name, is_variable)` — `is_variable` 1/0, true/false, yes/no
- `agreements(agreement_id, meterpoint_id, product_id, agreement_valid_from,
  agreement_valid_to)` — dates `YYYY-MM-DD` (a midnight time is accepted); `valid_to` NULL or
  empty = open-ended. An agreement is active on day D when valid_from ≤ D < valid_to
  (`valid_to` is the first day it is no longer active; a switch on D ends the old agreement
  with valid_to = D and starts the new one with valid_from = D).

Every row is kept raw (text) for bronze; `validate_agreements` types them and sends bad rows
(empty or duplicate id, unknown meterpoint or product, bad date or flag, an agreement ending
before it starts, an agreement overlapping an earlier one of the same meterpoint) to dead
letters. Record numbers run over the whole database: meterpoints first, then products, then
agreements, each in rowid order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from wattlake.errors import InputError
from wattlake.sources.files import ParsedFile, read_bytes

READINGS_FORMAT = "readings-json"
AGREEMENTS_FORMAT = "sqlite-agreements"
READING_FIELDS = ("meterpoint_id", "interval_start", "consumption_delta")
DEFAULT_UNIT = "kWh"
SQLITE_MAGIC = b"SQLite format 3\x00"

# Table → required columns, in the order the bronze tables keep them.
SQLITE_TABLES: dict[str, tuple[str, ...]] = {
    "meterpoints": ("meterpoint_id", "region"),
    "products": ("product_id", "display_name", "is_variable"),
    "agreements": (
        "agreement_id",
        "meterpoint_id",
        "product_id",
        "agreement_valid_from",
        "agreement_valid_to",
    ),
}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}
_DAY = re.compile(r"^\d{4}-\d\d-\d\d([T ]00:00(:00(\.0+)?)?(Z|[+-]00:?00)?)?$")


# -- readings JSON ----------------------------------------------------------------------------


class _Num(str):
    """A JSON number, kept as the text written in the file."""


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=_Num, parse_int=_Num, parse_constant=_Num)


def _dumps(value: Any) -> str:
    """Compact JSON of a parsed record (numbers as written) for the dead-letter raw text."""
    if isinstance(value, _Num):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def json_type(v: Any) -> str:
    """The JSON type name of a parsed value (`_Num` is a number kept as its text)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, _Num | int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    return "array"


def looks_like_json(data: bytes) -> bool:
    """True when the first non-blank character opens a JSON array or object."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"[", b"{")


def reading_fields(rec: Any) -> tuple[str, str, str | None, str] | str:
    """`(meter_id, timestamp, value, unit)` as raw text, or the reason the record is bad."""
    if not isinstance(rec, dict):
        return f"record is a JSON {json_type(rec)}, not an object"
    missing = [f for f in READING_FIELDS if f not in rec]
    if missing:
        return "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
    mp, ts, value = rec["meterpoint_id"], rec["interval_start"], rec["consumption_delta"]
    unit = rec.get("unit", DEFAULT_UNIT)
    if isinstance(mp, _Num) and mp.lstrip("-").isdigit():
        mp_text = str(mp)
    elif isinstance(mp, str) and not isinstance(mp, _Num):
        mp_text = mp.strip()
    else:
        return f"meterpoint_id must be a string or an integer, got {json_type(mp)}"
    if not mp_text:
        return "empty meterpoint_id"
    if not isinstance(ts, str) or isinstance(ts, _Num):
        return f"interval_start must be a string, got {json_type(ts)}"
    if value is not None and not isinstance(value, _Num):
        return f"consumption_delta must be a number or null, got {json_type(value)}"
    if unit is None:
        unit = DEFAULT_UNIT
    if not isinstance(unit, str) or isinstance(unit, _Num):
        return f"unit must be a string, got {json_type(unit)}"
    return mp_text, ts.strip(), None if value is None else str(value), unit.strip()


def _records(
    text: str, name: str
) -> tuple[list[tuple[int, str | None, Any]], list[tuple[int, str]]]:
    """`[(record number, raw text, parsed value)]` and `[(record number, bad JSON reason)]`.

    Array elements have no raw text of their own (None): it is rebuilt when needed."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            doc = _loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: not a valid JSON array ({exc.msg} at line {exc.lineno} "
                f"column {exc.colno})"
            ) from None
        if not isinstance(doc, list):  # pragma: no cover - '[' always parses to a list
            raise InputError(f"{name}: expected a JSON array or JSON lines")
        return [(i + 1, None, rec) for i, rec in enumerate(doc)], []
    good: list[tuple[int, str | None, Any]] = []
    bad: list[tuple[int, str]] = []
    for ln, line in enumerate(text.split("\n"), start=1):
        raw = line.rstrip("\r")
        if not raw.strip():
            continue
        try:
            good.append((ln, raw, _loads(raw)))
        except json.JSONDecodeError as exc:
            bad.append((ln, f"invalid JSON at column {exc.colno}: {exc.msg}"))
    if not good:
        first = bad[0][1] if bad else "no records"
        raise InputError(f"{name}: not JSON (expected a JSON array or JSON lines; {first})")
    return good, bad


def parse_readings_json(data: bytes, name: str) -> ParsedFile:
    """Pure parser: readings JSON → bronze reading rows (raw text) and dead letters.

    Rows carry `meter_id` (the meterpoint id), `timestamp` (interval start as written),
    `value` (kWh as written), `unit` (`kWh` unless the record says otherwise) and
    `_row_number` (the record number).
    """
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start}); expected JSON") from None
    if not looks_like_json(data):
        raise InputError(f"{name}: not JSON (expected a JSON array or JSON lines)")
    records, bad_json = _records(text, name)
    lines = text.split("\n")
    cols: dict[str, list[Any]] = {k: [] for k in ("meter_id", "timestamp", "value", "unit")}
    row_no: list[int] = []
    dead: list[tuple[int, str, str]] = [
        (ln, lines[ln - 1].rstrip("\r"), reason) for ln, reason in bad_json
    ]
    for num, raw, rec in records:
        got = reading_fields(rec)
        if isinstance(got, str):
            dead.append((num, raw if raw is not None else _dumps(rec), got))
            continue
        for key, val in zip(cols, got, strict=True):
            cols[key].append(val)
        row_no.append(num)
    rows = pa.table(
        {
            **{k: pa.array(v, pa.string()) for k, v in cols.items()},
            "_row_number": pa.array(row_no, pa.int64()),
        }
    )
    dead.sort()
    return ParsedFile(
        source_file=name,
        fmt=READINGS_FORMAT,
        checksum=hashlib.sha256(data).hexdigest(),
        rows=rows,
        dead=_dead_table(dead),
        lines=len(records) + len(bad_json),
    )


def read_readings_json(path: Path) -> ParsedFile:
    """A readings JSON file (gzip allowed) → `parse_readings_json`."""
    return parse_readings_json(read_bytes(path), str(path))


def _dead_table(dead: list[tuple[int, str, str]]) -> pa.Table:
    return pa.table(
        {
            "line_number": pa.array([d[0] for d in dead], pa.int64()),
            "raw_text": pa.array([d[1] for d in dead], pa.string()),
            "reason": pa.array([d[2] for d in dead], pa.string()),
        }
    )


# -- SQLite agreements ------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementsSnapshot:
    """One SQLite database's three tables as raw text.

    `tables[name]` has the required columns as strings (NULL stays NULL), `_rowid` (the
    SQLite rowid) and `_row_number` (the record number over the whole database).
    """

    source_file: str
    checksum: str  # SHA-256 of the database file, hex
    tables: dict[str, pa.Table]

    @property
    def records(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


def is_sqlite(data: bytes) -> bool:
    return data[:16] == SQLITE_MAGIC


def _text(v: Any) -> str | None:
    """A SQLite value as text: NULL stays None, numbers as SQLite prints them."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="backslashreplace")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def parse_sqlite_agreements(data: bytes, name: str) -> AgreementsSnapshot:
    """Pure parser: the database bytes → the three tables as raw text (see the module doc).

    `InputError` when the bytes are not a SQLite database or a table or column is missing.
    """
    if not is_sqlite(data):
        raise InputError(f"{name}: not a SQLite database (expected --format {AGREEMENTS_FORMAT})")
    con = sqlite3.connect(":memory:")
    try:
        try:
            con.deserialize(data)
            present = {
                r[0].lower(): r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{name}: unreadable SQLite database ({exc})") from None
        tables: dict[str, pa.Table] = {}
        next_no = 1
        for table, required in SQLITE_TABLES.items():
            actual = present.get(table)
            if actual is None:
                raise InputError(
                    f"{name}: table '{table}' is missing (needs: {', '.join(SQLITE_TABLES)})"
                )
            have = {r[1].lower(): r[1] for r in con.execute(f'PRAGMA table_info("{actual}")')}
            missing = [c for c in required if c not in have]
            if missing:
                raise InputError(
                    f"{name}: table '{table}' is missing column(s) {', '.join(missing)} "
                    f"(has: {', '.join(have.values())})"
                )
            select = ", ".join(f'"{have[c]}"' for c in required)
            try:
                rows = con.execute(
                    f'SELECT rowid, {select} FROM "{actual}" ORDER BY rowid'
                ).fetchall()
            except sqlite3.OperationalError:  # WITHOUT ROWID tables and views
                rows = con.execute(f'SELECT NULL, {select} FROM "{actual}"').fetchall()
                rows = [(i + 1, *r[1:]) for i, r in enumerate(rows)]
            except sqlite3.DatabaseError as exc:
                raise InputError(f"{name}: cannot read table '{table}' ({exc})") from None
            n = len(rows)
            tables[table] = pa.table(
                {
                    **{
                        c: pa.array([_text(r[j + 1]) for r in rows], pa.string())
                        for j, c in enumerate(required)
                    },
                    "_rowid": pa.array([int(r[0]) for r in rows], pa.int64()),
                    "_row_number": pa.array(range(next_no, next_no + n), pa.int64()),
                }
            )
            next_no += n
    finally:
        con.close()
    return AgreementsSnapshot(name, hashlib.sha256(data).hexdigest(), tables)


def read_sqlite_agreements(path: Path) -> AgreementsSnapshot:
    """A SQLite database file → `parse_sqlite_agreements` (the file is never opened for write)."""
    return parse_sqlite_agreements(read_bytes(path), str(path))


@dataclass(frozen=True)
class ValidatedAgreements:
    """Typed rows that passed validation (per table) and dead letters for the rest."""

    meterpoints: pa.Table  # meterpoint_id, region, _row_number
    products: pa.Table  # product_id, display_name, is_variable (bool), _row_number
    agreements: pa.Table  # agreement_id, meterpoint_id, product_id, valid_from/to (date)
    dead: pa.Table  # line_number (record number), raw_text, reason


def raw_record_text(table: str, row: dict[str, Any]) -> str:
    """`agreements rowid 7: {"agreement_id": "7", ...}` — the dead-letter raw text."""
    fields = {k: v for k, v in row.items() if not k.startswith("_")}
    return f"{table} rowid {row['_rowid']}: {json.dumps(fields, ensure_ascii=False)}"


def parse_flag(value: str | None) -> bool | None:
    """`1/0`, `true/false`, `t/f`, `yes/no` (any case) → bool; None when it is none of them."""
    v = (value or "").strip().lower()
    return True if v in _TRUE else False if v in _FALSE else None


def parse_day(value: str | None) -> dt.date | None:
    """`YYYY-MM-DD` (optionally with a midnight time `T00:00:00` / ` 00:00:00`) → date."""
    v = (value or "").strip()
    if not _DAY.match(v):
        return None
    try:
        return dt.date.fromisoformat(v[:10])
    except ValueError:
        return None


def _unique(
    rows: list[dict[str, Any]], key: str, table: str, dead: list[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    """Rows with a non-empty, first-seen `key`; the rest become dead letters."""
    first: dict[str, int] = {}
    out = []
    for r in rows:
        k = (r[key] or "").strip()
        if not k:
            dead.append((r["_row_number"], raw_record_text(table, r), f"empty {key}"))
            continue
        if k in first:
            reason = f"duplicate {key} '{k}' (first at record {first[k]})"
            dead.append((r["_row_number"], raw_record_text(table, r), reason))
            continue
        first[k] = r["_row_number"]
        out.append({**r, key: k})
    return out


def validate_agreements(snap: AgreementsSnapshot) -> ValidatedAgreements:
    """Pure: type and check the snapshot's rows (rules in the module docstring).

    Within a table the first row of an id wins; an agreement that overlaps an earlier-starting
    kept agreement of the same meterpoint is a dead letter (consumption would count twice).
    """
    dead: list[tuple[int, str, str]] = []
    mps = _unique(snap.tables["meterpoints"].to_pylist(), "meterpoint_id", "meterpoints", dead)
    prods = []
    for r in _unique(snap.tables["products"].to_pylist(), "product_id", "products", dead):
        flag = parse_flag(r["is_variable"])
        if flag is None:
            why = f"is_variable '{r['is_variable']}' is not a boolean (1/0, true/false)"
            dead.append((r["_row_number"], raw_record_text("products", r), why))
            continue
        prods.append({**r, "is_variable": flag})
    mp_ids = {r["meterpoint_id"] for r in mps}
    prod_ids = {r["product_id"] for r in prods}
    typed = []
    for r in _unique(snap.tables["agreements"].to_pylist(), "agreement_id", "agreements", dead):
        raw = raw_record_text("agreements", r)
        mp = (r["meterpoint_id"] or "").strip()
        prod = (r["product_id"] or "").strip()
        start = parse_day(r["agreement_valid_from"])
        end_raw = (r["agreement_valid_to"] or "").strip()
        end = parse_day(end_raw) if end_raw else None
        reason = None
        if mp not in mp_ids:
            reason = f"unknown meterpoint_id '{mp}'"
        elif prod not in prod_ids:
            reason = f"unknown product_id '{prod}'"
        elif start is None:
            reason = f"agreement_valid_from '{r['agreement_valid_from']}' is not a date"
        elif end_raw and end is None:
            reason = f"agreement_valid_to '{end_raw}' is not a date"
        elif end is not None and end < start:
            reason = f"agreement ends ({end}) before it starts ({start})"
        if reason:
            dead.append((r["_row_number"], raw, reason))
            continue
        typed.append({**r, "meterpoint_id": mp, "product_id": prod, "_from": start, "_to": end})
    kept = _without_overlaps(typed, dead)
    dead.sort()
    return ValidatedAgreements(
        meterpoints=pa.table(
            {
                "meterpoint_id": pa.array([r["meterpoint_id"] for r in mps], pa.string()),
                "region": pa.array([r["region"] for r in mps], pa.string()),
                "_row_number": pa.array([r["_row_number"] for r in mps], pa.int64()),
            }
        ),
        products=pa.table(
            {
                "product_id": pa.array([r["product_id"] for r in prods], pa.string()),
                "display_name": pa.array([r["display_name"] for r in prods], pa.string()),
                "is_variable": pa.array([r["is_variable"] for r in prods], pa.bool_()),
                "_row_number": pa.array([r["_row_number"] for r in prods], pa.int64()),
            }
        ),
        agreements=pa.table(
            {
                "agreement_id": pa.array([r["agreement_id"] for r in kept], pa.string()),
                "meterpoint_id": pa.array([r["meterpoint_id"] for r in kept], pa.string()),
                "product_id": pa.array([r["product_id"] for r in kept], pa.string()),
                "agreement_valid_from": pa.array([r["_from"] for r in kept], pa.date32()),
                "agreement_valid_to": pa.array([r["_to"] for r in kept], pa.date32()),
                "_row_number": pa.array([r["_row_number"] for r in kept], pa.int64()),
            }
        ),
        dead=_dead_table(dead),
    )


def _without_overlaps(
    rows: list[dict[str, Any]], dead: list[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    """Per meterpoint, in (valid_from, record) order: drop agreements overlapping a kept one."""
    kept: list[dict[str, Any]] = []
    last_end: dict[str, tuple[dt.date | None, str]] = {}  # meterpoint → (valid_to, agreement)
    for r in sorted(rows, key=lambda r: (r["meterpoint_id"], r["_from"], r["_row_number"])):
        prev = last_end.get(r["meterpoint_id"])
        if prev is not None and (prev[0] is None or r["_from"] < prev[0]):
            reason = (
                f"overlaps agreement '{prev[1]}' of meterpoint '{r['meterpoint_id']}' "
                f"(valid to {prev[0] or 'open-ended'})"
            )
            dead.append((r["_row_number"], raw_record_text("agreements", r), reason))
            continue
        last_end[r["meterpoint_id"]] = (r["_to"], r["agreement_id"])
        kept.append(r)
    return sorted(kept, key=lambda r: r["_row_number"])
