"""Commands that move data: `generate`, `ingest` (files and APIs), `run`, `demo`."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wattlake.cli.common import (
    EngineOpt,
    HomeOpt,
    app,
    check_engine,
    err,
    open_context,
    out,
    print_run,
    progress_bar,
)
from wattlake.context import Context
from wattlake.errors import InputError


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
    households: Annotated[int, typer.Option(help="Number of households.")] = 100,
    days: Annotated[int, typer.Option(help="Number of days of half-hourly data.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 42,
    fmt: Annotated[str, typer.Option("--format", help="lcl or meter-csv.")] = "lcl",
    faults: Annotated[bool, typer.Option("--faults", help="Inject faults + labels.csv.")] = False,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2024-03-01",
    layout: Annotated[
        str,
        typer.Option(
            help="households (default) or smart-meter-etl (SQLite agreements + daily readings "
            "JSON for --households meterpoints; --faults adds bad records)."
        ),
    ] = "households",
) -> None:
    """Write synthetic households (readings, user-profile history, fault labels)."""
    from wattlake.generate import generate as gen

    if fmt not in ("lcl", "meter-csv"):
        raise InputError(f"unknown format '{fmt}' (known: lcl, meter-csv)")
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start '{start}' is not a date (YYYY-MM-DD)") from None
    if layout not in ("households", "smart-meter-etl"):
        raise InputError(f"unknown layout '{layout}' (known: households, smart-meter-etl)")
    if layout == "smart-meter-etl":
        from wattlake.generate.smart_meter_etl import generate_smart_meter_etl

        try:
            sme = generate_smart_meter_etl(
                out_dir, households, days, first, seed, bad_records=faults
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None
        out.print(
            f"wrote {sme.database} ({sme.meterpoints} meterpoints, {sme.agreements} agreements) "
            f"and {sme.readings:,} readings in {len(sme.readings_files)} JSON file(s) "
            f"({sme.bad_readings + sme.bad_agreement_rows} bad records)"
        )
        return
    try:
        res = gen(out_dir, households, days, seed=seed, fmt=fmt, faults=faults, start=first)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    out.print(
        f"wrote {res.readings:,} readings of {res.meters} meters ({res.households} households) "
        f"in {len(res.files)} file(s) to {out_dir} in {res.seconds:.2f}s"
        + (f"; labels: {res.labels_file}" if res.labels_file else "")
    )


API_SOURCES = ("prices", "weather", "pv")


def _date(value: str | None, flag: str) -> dt.date:
    if value is None:
        raise InputError(f"{flag} is required (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag} '{value}' is not a date (YYYY-MM-DD)") from None


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files or directories (.csv, .csv.gz), or one of: prices, weather, pv."
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="lcl, meter-csv, users, lcl-households, lcl-weather, readings-json or "
            "sqlite-agreements (default: detect).",
        ),
    ] = None,
    zone: Annotated[str | None, typer.Option(help="prices: bidding zone, e.g. DE-LU.")] = None,
    lat: Annotated[float | None, typer.Option(help="weather/pv: latitude.")] = None,
    lon: Annotated[float | None, typer.Option(help="weather/pv: longitude.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First day / year.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day / year.")] = None,
    kwp: Annotated[float, typer.Option(help="pv: peak power (kWp).")] = 1.0,
    tilt: Annotated[float, typer.Option(help="pv: tilt (degrees).")] = 35.0,
    azimuth: Annotated[
        float, typer.Option(help="pv: azimuth, PVGIS convention (0 = south).")
    ] = 0.0,
    home: HomeOpt = None,
) -> None:
    """Land files in bronze (idempotent), or fetch an API: `ingest prices --zone DE-LU --from
    2024-12-10 --to 2024-12-11`, `ingest weather --lat 51.5 --lon -0.1 --from ... --to ...`,
    `ingest pv --lat 51.5 --lon -0.1 --from 2020 --to 2020 --kwp 4`."""

    with open_context(home) as ctx:
        _ingest(ctx, paths, fmt, zone, lat, lon, date_from, date_to, kwp, tilt, azimuth)


def _ingest(
    ctx: Context,
    paths: list[Path],
    fmt: str | None,
    zone: str | None,
    lat: float | None,
    lon: float | None,
    date_from: str | None,
    date_to: str | None,
    kwp: float,
    tilt: float,
    azimuth: float,
) -> None:
    from wattlake.pipeline.ingest import ingest_files

    if len(paths) == 1 and str(paths[0]) in API_SOURCES and not paths[0].exists():
        _ingest_api(ctx, str(paths[0]), zone, lat, lon, date_from, date_to, kwp, tilt, azimuth)
        return
    summary = ingest_files(ctx, paths, fmt)
    t = Table(title=f"ingest {summary.run_id}")
    for col in ("file", "format", "status", "landed", "duplicates", "dead letters"):
        t.add_column(
            col, justify="right" if col in ("landed", "duplicates", "dead letters") else "left"
        )
    for f in summary.files:
        t.add_row(
            f.source_file,
            f.fmt,
            f.status,
            f"{f.landed:,}",
            f"{f.duplicates:,}",
            f"{f.dead_letters:,}",
        )
    out.print(t)


def _ingest_api(
    ctx: Context,
    source: str,
    zone: str | None,
    lat: float | None,
    lon: float | None,
    date_from: str | None,
    date_to: str | None,
    kwp: float,
    tilt: float,
    azimuth: float,
) -> None:
    from wattlake.errors import PipelineError
    from wattlake.pipeline import external

    if source == "prices":
        if not zone:
            raise InputError("ingest prices needs --zone (e.g. DE-LU)")
        res = external.ingest_prices(ctx, zone, _date(date_from, "--from"), _date(date_to, "--to"))
    else:
        if lat is None or lon is None:
            raise InputError(f"ingest {source} needs --lat and --lon")
        if source == "weather":
            res = external.ingest_weather(
                ctx, lat, lon, _date(date_from, "--from"), _date(date_to, "--to")
            )
        else:
            try:
                y0, y1 = int(date_from or ""), int(date_to or "")
            except ValueError:
                raise InputError("ingest pv needs --from YEAR --to YEAR") from None
            res = external.ingest_pv(
                ctx, lat, lon, y0, y1, peak_power_kwp=kwp, tilt_deg=tilt, azimuth_deg=azimuth
            )
    if res.status == "failed":
        raise PipelineError(res.message)
    state = "new response" if res.new_body else "response unchanged"
    out.print(
        f"{source}: {res.rows_merged:,} rows merged into silver ({state}, batch {res.batch_id})"
    )


@app.command()
def run(
    engine: EngineOpt = None,
    profile: Annotated[str | None, typer.Option(help="VEE profile (default greenstream).")] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help=(
                "Re-validate all of bronze (after a profile, registry, release or "
                "meter-location change)."
            ),
        ),
    ] = False,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse: postgresql://... (default: the DuckDB file).")
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(help="With --engine spark: local[N] (default local[2]) or spark://HOST:PORT."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Promote despite failed error-severity quality checks (recorded in ops.runs).",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Process new bronze data: silver (VEE) → gold → warehouse, with quality gates."""
    from wattlake.pipeline.run import NO_READINGS, has_readings, run_pipeline

    check_engine(engine)
    with open_context(
        home, engine=engine, profile=profile, warehouse=warehouse, spark_master=spark_master
    ) as ctx:
        summary = run_pipeline(
            ctx,
            rebuild=rebuild,
            force=force,
            progress=(lambda step: err.print(f"[dim]… {step}[/dim]")) if err.is_terminal else None,
        )
        empty = not has_readings(ctx)
    print_run(summary)
    if empty:
        out.print(f"nothing to process: {NO_READINGS}")


@app.command()
def demo(
    households: Annotated[int, typer.Option(help="Number of households.")] = 200,
    days: Annotated[int, typer.Option(help="Days of half-hourly data.")] = 28,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    engine: EngineOpt = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="Fetch real weather (Open-Meteo archive), prices (Energy-Charts) and PVGIS "
            "instead of generating them (the only demo mode that uses the network).",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Generate sample data (with faults), ingest it, run every layer, print a summary.

    Offline by default: weather and spot prices are generated too."""
    from wattlake.pipeline.demo import run_demo

    check_engine(engine)
    t0 = time.perf_counter()
    with open_context(home, engine=engine) as ctx, progress_bar() as prog:
        report = run_demo(
            ctx, households=households, days=days, seed=seed, progress=prog, online=online
        )
        where = ctx.settings.home
    print_run(report.run)
    out.print(report.render())
    out.print(f"[green]demo finished in {time.perf_counter() - t0:.1f}s[/green] — data in {where}")
