"""The I/O edge of the reports: read the lake, compute on the run's engine, store in gold.

Each report run replaces its rows in the gold table for the reference dates it covers (and
its scope), in one Delta commit: running the same report twice leaves the same table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pyarrow as pa

from wattlake.context import Context
from wattlake.engine import Engine
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import UTC_TS, TableSpec
from wattlake.reports import smart_meter_etl as rep

REPORTS: dict[str, TableSpec] = {
    "active-agreements": cat.GOLD_REPORT_ACTIVE_AGREEMENTS,
    "half-hourly": cat.GOLD_REPORT_HALF_HOURLY,
    "daily-product": cat.GOLD_REPORT_DAILY_PRODUCT,
}
MAX_DAYS = 366


@dataclass(frozen=True)
class ReportResult:
    """A computed report: rows (Arrow, the columns to show/export) and where it was stored."""

    name: str
    start: dt.date
    end: dt.date
    scope: str  # meterpoints | all (active-agreements: meterpoints)
    rows: pa.Table
    table: str  # qualified gold table
    run_id: str


def date_range(
    reference_date: str | None, date_from: str | None, date_to: str | None
) -> tuple[dt.date, dt.date]:
    """`--reference-date D` or `--from D1 --to D2` → (first, last) day; `InputError` else."""

    def parse(v: str, flag: str) -> dt.date:
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            raise InputError(f"{flag} '{v}' is not a date (YYYY-MM-DD)") from None

    if reference_date is not None:
        if date_from is not None or date_to is not None:
            raise InputError("give either --reference-date or --from/--to, not both")
        d = parse(reference_date, "--reference-date")
        return d, d
    if date_from is None and date_to is None:
        raise InputError("give --reference-date YYYY-MM-DD (or --from/--to)")
    start = parse(date_from, "--from") if date_from is not None else None
    end = parse(date_to, "--to") if date_to is not None else None
    start = start or end
    end = end or start
    assert start is not None and end is not None
    if end < start:
        raise InputError(f"--to {end} is before --from {start}")
    if (end - start).days + 1 > MAX_DAYS:
        raise InputError(f"the range covers more than {MAX_DAYS} days")
    return start, end


def compute_report(
    engine: Engine,
    lake: Lake,
    name: str,
    start: dt.date,
    end: dt.date,
    *,
    all_meters: bool = False,
) -> pa.Table:
    """The report's rows as Arrow (pure expressions from `reports.smart_meter_etl`)."""
    if name not in REPORTS:
        raise InputError(f"unknown report '{name}' (known: {', '.join(REPORTS)})")
    agreements = engine.read(lake, cat.SILVER_AGREEMENTS)
    products = engine.read(lake, cat.SILVER_PRODUCTS)
    meterpoints = engine.read(lake, cat.SILVER_METERPOINTS)
    if name == "active-agreements":
        if start != end:
            raise InputError("active-agreements takes one --reference-date, not a range")
        expr = rep.active_agreements(agreements, products, meterpoints, start)
    else:
        readings = engine.read(lake, cat.SILVER_READINGS)
        scope = None if all_meters else meterpoints
        if name == "half-hourly":
            expr = rep.half_hourly(readings, start, end, scope)
        else:
            expr = rep.daily_product(readings, agreements, products, start, end, scope)
    return utc_timestamps(engine.to_arrow(expr))


def utc_timestamps(t: pa.Table) -> pa.Table:
    """Naive timestamp columns (engines drop the zone on arithmetic) marked as UTC."""
    for i, f in enumerate(t.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            t = t.set_column(i, f.name, t.column(i).cast(pa.timestamp("us")).cast(UTC_TS))
    return t


def _predicate(start: dt.date, end: dt.date, scope: str | None) -> str:
    where = f"reference_date >= '{start.isoformat()}' AND reference_date <= '{end.isoformat()}'"
    return where + (f" AND scope = '{scope}'" if scope else "")


def run_report(
    ctx: Context,
    name: str,
    start: dt.date,
    end: dt.date,
    *,
    all_meters: bool = False,
    engine: Engine | None = None,
    now: dt.datetime | None = None,
) -> ReportResult:
    """Compute one report on the context's engine and replace its gold rows for the dates."""
    lake = ctx.lake
    if (name != "half-hourly" or not all_meters) and not lake.exists(cat.SILVER_AGREEMENTS):
        raise InputError(
            "no meterpoints/agreements loaded: run `wattlake ingest DB --format "
            "sqlite-agreements` first"
            + (" (or give --all-meters)" if name == "half-hourly" else "")
        )
    rows = compute_report(engine or ctx.engine, lake, name, start, end, all_meters=all_meters)
    run_id = "report-" + uuid.uuid4().hex[:12]
    now = now or ctx.clock()
    spec = REPORTS[name]
    scope = None if name == "active-agreements" else ("all" if all_meters else "meterpoints")
    n = rows.num_rows
    stored = rows.append_column("_run_id", pa.array([run_id] * n, pa.string())).append_column(
        "computed_at", pa.array([now] * n, UTC_TS)
    )
    if scope:
        stored = stored.append_column("scope", pa.array([scope] * n, pa.string()))
    lake.replace_where(spec, stored, _predicate(start, end, scope))
    return ReportResult(name, start, end, scope or "meterpoints", rows, spec.qualified, run_id)
