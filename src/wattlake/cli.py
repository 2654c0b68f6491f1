"""The `wattlake` command line. Bad input: one line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.config import Settings, load_settings
from wattlake.errors import InputError, WattlakeError
from wattlake.logs import configure_logging
from wattlake.quality.cli import metrics as metrics_cmd
from wattlake.quality.cli import quality_app
from wattlake.reports.cli import report_app
from wattlake.stream.cli import stream_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="wattlake: smart-meter data → validated Delta lakehouse → star-schema warehouse.",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default $WATTLAKE_HOME or ./wattlake-data)."),
]


def _settings(home: Path | None, **kw: Any) -> Settings:
    s = load_settings(home=home, **kw)
    configure_logging(s.home / "logs", s.log_level, s.log_stderr)
    return s


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


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
    from wattlake.pipeline.ingest import ingest_files

    s = _settings(home)
    if len(paths) == 1 and str(paths[0]) in API_SOURCES and not paths[0].exists():
        _ingest_api(s, str(paths[0]), zone, lat, lon, date_from, date_to, kwp, tilt, azimuth)
        return
    summary = ingest_files(s, paths, fmt)
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
    s: Settings,
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
        res = external.ingest_prices(s, zone, _date(date_from, "--from"), _date(date_to, "--to"))
    else:
        if lat is None or lon is None:
            raise InputError(f"ingest {source} needs --lat and --lon")
        if source == "weather":
            res = external.ingest_weather(
                s, lat, lon, _date(date_from, "--from"), _date(date_to, "--to")
            )
        else:
            try:
                y0, y1 = int(date_from or ""), int(date_to or "")
            except ValueError:
                raise InputError("ingest pv needs --from YEAR --to YEAR") from None
            res = external.ingest_pv(
                s, lat, lon, y0, y1, peak_power_kwp=kwp, tilt_deg=tilt, azimuth_deg=azimuth
            )
    if res.status == "failed":
        raise PipelineError(res.message)
    state = "new response" if res.new_body else "response unchanged"
    out.print(
        f"{source}: {res.rows_merged:,} rows merged into silver ({state}, batch {res.batch_id})"
    )


@app.command()
def run(
    engine: Annotated[str | None, typer.Option(help="duckdb (default) or spark.")] = None,
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
    from wattlake.pipeline.run import run_pipeline

    if engine is not None and engine not in ("duckdb", "spark"):
        raise InputError(f"unknown engine '{engine}' (known: duckdb, spark)")
    s = _settings(home, engine=engine, profile=profile, warehouse=warehouse)
    summary = run_pipeline(
        s,
        rebuild=rebuild,
        force=force,
        progress=(lambda step: err.print(f"[dim]… {step}[/dim]")) if err.is_terminal else None,
    )
    _print_run(summary)


def _print_run(summary: Any) -> None:
    t = Table(title=f"run {summary.run_id} ({summary.engine}, profile {summary.profile})")
    for col in ("step", "rows in", "rows out", "quarantined", "seconds", "note"):
        t.add_column(col)
    for st in summary.steps:
        t.add_row(
            st.step,
            f"{st.rows_in:,}",
            f"{st.rows_out:,}",
            f"{st.rows_quarantined:,}",
            f"{st.seconds:.2f}",
            st.message,
        )
    out.print(t)


registry_app = typer.Typer(help="The meter registry (known meters, vacant allow-list).")
quarantine_app = typer.Typer(help="Inspect and release quarantined readings.")
app.add_typer(registry_app, name="registry")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(quality_app, name="quality")
app.add_typer(report_app, name="report")
app.add_typer(stream_app, name="stream")
app.command("metrics")(metrics_cmd)


@registry_app.command("load")
def registry_load(
    file: Annotated[Path, typer.Argument(help="CSV with a meter_id column (optional vacant).")],
    home: HomeOpt = None,
) -> None:
    """Replace the registry: unknown meters are rejected from the next run on."""
    from wattlake.pipeline.registry import load_registry

    s = _settings(home)
    n = load_registry(s, file)
    out.print(f"registry: {n:,} meters loaded; `wattlake run --rebuild` re-validates silver")


@quarantine_app.command("release")
def quarantine_release(
    reason: Annotated[str, typer.Option(help="Why (recorded in ops.quarantine_releases).")],
    record_id: Annotated[list[str] | None, typer.Option(help="_record_id (repeatable).")] = None,
    meter: Annotated[str | None, typer.Option(help="Only this meter.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only rows quarantined by this rule.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First UTC day.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last UTC day.")] = None,
    by: Annotated[str | None, typer.Option(help="Who releases (default: OS user).")] = None,
    home: HomeOpt = None,
) -> None:
    """Release quarantined readings into silver (provenance `edited`), recorded, then re-run."""
    from wattlake.pipeline.quarantine import release
    from wattlake.pipeline.run import run_pipeline

    s = _settings(home)
    n = release(
        s,
        reason,
        record_ids=record_id,
        meter_id=meter,
        rule=rule,
        start=_date(date_from, "--from") if date_from else None,
        end=_date(date_to, "--to") if date_to else None,
        released_by=by,
    )
    out.print(f"released {n:,} reading(s); re-validating their batches")
    _print_run(run_pipeline(s))


vee_app = typer.Typer(help="Validation, estimation and editing (VEE) tools.")
app.add_typer(vee_app, name="vee")


@vee_app.command("evaluate")
def vee_evaluate(
    gaps: Annotated[
        str, typer.Option(help="Hidden gap lengths in readings, comma-separated.")
    ] = "1,2,4,8,16,48",
    every: Annotated[int, typer.Option(help="Start a hidden run every N readings.")] = 97,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write JSON here.")] = None,
    home: HomeOpt = None,
) -> None:
    """Hide real readings, estimate them (linear, like-day) and report MAE/RMSE."""
    from wattlake.pipeline.evaluate import evaluate, write_report

    try:
        lengths = tuple(int(x) for x in gaps.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--gaps '{gaps}' must be comma-separated integers") from None
    s = _settings(home)
    rows = evaluate(s, lengths, every)
    t = Table(title="estimation accuracy (kWh per interval)")
    for col in ("gap (readings)", "method", "readings", "MAE", "RMSE", "mean actual"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            str(r["gap_readings"]),
            r["method"],
            f"{r['readings']:,}",
            f"{r['mae_kwh']:.4f}" if r["mae_kwh"] is not None else "-",
            f"{r['rmse_kwh']:.4f}" if r["rmse_kwh"] is not None else "-",
            f"{r['mean_actual_kwh']:.4f}" if r["mean_actual_kwh"] is not None else "-",
        )
    out.print(t)
    if out_file:
        write_report(rows, out_file)
        out.print(f"written to {out_file}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    home: HomeOpt = None,
) -> None:
    """Run a read-only query over every table (bronze.*, silver.*, gold.*, ops.*, dw.*)."""
    from wattlake.query import run_sql

    if fmt not in ("table", "csv", "json"):
        raise InputError(f"unknown output format '{fmt}' (known: table, csv, json)")
    s = _settings(home)
    cols, rows = run_sql(s.home, query, s.warehouse)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    elif fmt == "json":
        sys.stdout.write(
            json.dumps([dict(zip(cols, r, strict=True)) for r in rows], default=str) + "\n"
        )
    else:
        t = Table()
        for c in cols:
            t.add_column(c)
        for r in rows:
            t.add_row(*["NULL" if v is None else str(v) for v in r])
        out.print(t)


@app.command()
def tables(home: HomeOpt = None) -> None:
    """List every table: rows, size on disk, last update."""
    from wattlake.query import list_tables

    s = _settings(home)
    t = Table(title=f"tables in {s.home}")
    for col in ("table", "rows", "size", "last update (UTC)"):
        t.add_column(col)
    for info in list_tables(s.home, s.warehouse):
        when = info.last_update.strftime("%Y-%m-%d %H:%M:%S") if info.last_update else "-"
        t.add_row(info.name, f"{info.rows:,}", _human(info.size_bytes), when)
    out.print(t)


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@app.command()
def demo(
    households: Annotated[int, typer.Option(help="Number of households.")] = 200,
    days: Annotated[int, typer.Option(help="Days of half-hourly data.")] = 28,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    engine: Annotated[str | None, typer.Option(help="duckdb (default) or spark.")] = None,
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

    s = _settings(home, engine=engine)
    t0 = time.perf_counter()
    with _progress() as prog:
        report = run_demo(
            s, households=households, days=days, seed=seed, progress=prog, online=online
        )
    _print_run(report.run)
    out.print(report.render())
    out.print(f"[green]demo finished in {time.perf_counter() - t0:.1f}s[/green] — data in {s.home}")


def main() -> None:
    """Entry point: user errors as one line on stderr; exit without interpreter teardown."""
    code = 0
    try:
        app(standalone_mode=False)
    except WattlakeError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        code = 1
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        err.print("aborted")
        code = 130
    except Exception as exc:  # click usage errors (typer's bundled click) and the unexpected
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err.print(f"[red]error:[/red] {exc.format_message()}", highlight=False)
            code = int(exc.exit_code) or 2
        elif isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
            err.print(
                f"[red]error:[/red] invalid setting {where}: {first.get('msg')}",
                highlight=False,
                soft_wrap=True,
            )
            code = 2
        else:
            import logging

            logging.getLogger("wattlake").error(
                "unexpected error", exc_info=exc, extra={"error": type(exc).__name__}
            )
            err.print(
                f"[red]error:[/red] unexpected {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''} "
                "(details in the log: <home>/logs/wattlake.jsonl)",
                highlight=False,
                soft_wrap=True,
            )
            code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    # delta-rs' runtime threads can abort the interpreter at teardown; skip it.
    os._exit(code)


if __name__ == "__main__":
    main()
