"""`wattlake report active-agreements|half-hourly|daily-product`: prints a table, optionally
writes CSV, stores the rows in gold."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer
from rich.table import Table

from wattlake.cli.common import EngineOpt, HomeOpt, check_engine, open_context, out, sub_app

report_app = sub_app(
    "report",
    "Reports of the smart-meter-etl case: agreements active on a day, half-hourly and "
    "daily-per-product consumption (UTC days; kWh).",
)
RefOpt = Annotated[
    str | None, typer.Option("--reference-date", help="The day to report, YYYY-MM-DD (UTC).")
]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day of a range (UTC).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day of a range (UTC).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Also write the rows to this CSV.")]
AllOpt = Annotated[
    bool,
    typer.Option("--all-meters", help="Every meter in silver, not only the loaded meterpoints."),
]
_MAX_SHOWN = 200
# Short headers so the tables fit an 80-column terminal (the CSV keeps the column names).
_HEADERS = {
    "reference_date": "date",
    "agreement_id": "id",
    "meterpoint_id": "meter",
    "display_name": "product",
    "is_variable": "var",
    "agreement_valid_from": "from",
    "agreement_valid_to": "to",
    "interval_start": "interval (UTC)",
    "meterpoint_count": "meters",
    "reading_count": "readings",
    "estimated_count": "estimated",
    "total_consumption_kwh": "kWh",
}


def _shown_columns(columns: list[str], one_day: bool) -> list[str]:
    """The columns printed: not the date when the report is for one day, not `product_id`
    next to its display name, not the scope (the title says it)."""
    drop = {"scope"} | ({"reference_date"} if one_day else set())
    if "display_name" in columns:
        drop.add("product_id")
    return [c for c in columns if c not in drop]


def _cell(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4f}"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def write_csv(rows: pa.Table, path: Path) -> None:
    """Rows as CSV with a header (timestamps ISO 8601 UTC, NULL as empty)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(rows.column_names)
        for r in rows.to_pylist():
            w.writerow(
                [
                    "" if v is None else v.isoformat() if hasattr(v, "isoformat") else v
                    for v in r.values()
                ]
            )


def _run(
    name: str,
    reference_date: str | None,
    date_from: str | None,
    date_to: str | None,
    out_file: Path | None,
    all_meters: bool,
    engine: str | None,
    home: Path | None,
) -> None:
    from wattlake.reports.run import date_range, run_report

    check_engine(engine)
    start, end = date_range(reference_date, date_from, date_to)
    with open_context(home, engine=engine) as ctx:
        res = run_report(ctx, name, start, end, all_meters=all_meters)
    when = str(start) if start == end else f"{start} … {end}"
    t = Table(title=f"{name} {when} ({res.rows.num_rows:,} rows → {res.table})")
    shown = _shown_columns(res.rows.column_names, one_day=start == end)
    for c in shown:
        t.add_column(
            _HEADERS.get(c, c),
            justify="right" if c.endswith(("_count", "_kwh")) else "left",
            no_wrap=c.endswith(("_from", "_to", "_date", "_start")),
        )
    for r in res.rows.select(shown).slice(0, _MAX_SHOWN).to_pylist():
        t.add_row(*[_cell(v) for v in r.values()])
    out.print(t)
    if res.rows.num_rows > _MAX_SHOWN:
        out.print(f"… {res.rows.num_rows - _MAX_SHOWN:,} more rows (use --out FILE.csv)")
    if out_file:
        write_csv(res.rows, out_file)
        out.print(f"written to {out_file}")


@report_app.command("active-agreements")
def active_agreements(
    reference_date: RefOpt = None,
    out_file: OutOpt = None,
    engine: EngineOpt = None,
    home: HomeOpt = None,
) -> None:
    """Agreements active on the day (valid_from <= D < valid_to) with product and region."""
    _run("active-agreements", reference_date, None, None, out_file, False, engine, home)


@report_app.command("half-hourly")
def half_hourly(
    reference_date: RefOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    out_file: OutOpt = None,
    all_meters: AllOpt = False,
    engine: EngineOpt = None,
    home: HomeOpt = None,
) -> None:
    """kWh per half hour over the meterpoints, with meter and estimated-interval counts."""
    _run("half-hourly", reference_date, date_from, date_to, out_file, all_meters, engine, home)


@report_app.command("daily-product")
def daily_product(
    reference_date: RefOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    out_file: OutOpt = None,
    all_meters: AllOpt = False,
    engine: EngineOpt = None,
    home: HomeOpt = None,
) -> None:
    """kWh per day and product of the agreement active that day (no agreement: own row)."""
    _run("daily-product", reference_date, date_from, date_to, out_file, all_meters, engine, home)
