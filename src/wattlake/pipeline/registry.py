"""`wattlake registry load FILE`: the meter registry (known meters, vacant allow-list)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow as pa

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.spec import UTC_TS
from wattlake.sources.files import read_bytes

TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f", ""}


def parse_registry(data: bytes, name: str) -> pa.Table:
    """CSV with a `meter_id` column (and optionally `vacant`: true/false) → registry rows.

    Duplicate meter ids, empty ids and unreadable `vacant` values are errors naming the line.
    """
    text = data.decode("utf-8", errors="strict").lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "meter_id" not in fields:
        raise InputError(f"{name}: no meter_id column (header: {','.join(fields)})")
    reader.fieldnames = fields
    meters: list[str] = []
    vacant: list[bool] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        meter = (row.get("meter_id") or "").strip()
        if not meter:
            raise InputError(f"{name}:{line}: empty meter_id")
        if meter in seen:
            raise InputError(f"{name}:{line}: meter_id {meter} listed twice")
        flag = (row.get("vacant") or "").strip().lower()
        if flag not in TRUE | FALSE:
            raise InputError(f"{name}:{line}: vacant must be true/false, got '{flag}'")
        seen.add(meter)
        meters.append(meter)
        vacant.append(flag in TRUE)
    if not meters:
        raise InputError(f"{name}: no meters listed")
    return pa.table({"meter_id": meters, "vacant": vacant})


def load_registry(ctx: Context, path: Path) -> int:
    """Replace the registry with the file's meters; returns how many were loaded.

    The registry applies to readings processed from now on; `wattlake run --rebuild`
    re-validates what is already in silver against it.
    """
    rows = parse_registry(read_bytes(path), str(path))
    now = ctx.clock()
    rows = rows.append_column("_source_file", pa.array([str(path)] * rows.num_rows))
    rows = rows.append_column("_loaded_at", pa.array([now] * rows.num_rows, UTC_TS))
    ctx.lake.replace_where(cat.SILVER_REGISTRY, rows, None)
    return rows.num_rows
