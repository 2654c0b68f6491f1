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
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.config import Settings, load_settings
from wattlake.errors import InputError, WattlakeError
from wattlake.logs import configure_logging

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
) -> None:
    """Write synthetic households (readings, user-profile history, fault labels)."""
    from wattlake.generate import generate as gen

    if fmt not in ("lcl", "meter-csv"):
        raise InputError(f"unknown format '{fmt}' (known: lcl, meter-csv)")
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start '{start}' is not a date (YYYY-MM-DD)") from None
    try:
        res = gen(out_dir, households, days, seed=seed, fmt=fmt, faults=faults, start=first)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    out.print(
        f"wrote {res.readings:,} readings of {res.meters} meters ({res.households} households) "
        f"in {len(res.files)} file(s) to {out_dir} in {res.seconds:.2f}s"
        + (f"; labels: {res.labels_file}" if res.labels_file else "")
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (.csv, .csv.gz).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="lcl, meter-csv or users (default: detect).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Land files in bronze (idempotent: the same file or row is never landed twice)."""
    from wattlake.pipeline.ingest import ingest_files

    s = _settings(home)
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


@app.command()
def run(
    engine: Annotated[str | None, typer.Option(help="duckdb (default) or spark.")] = None,
    profile: Annotated[str | None, typer.Option(help="VEE profile (default greenstream).")] = None,
    home: HomeOpt = None,
) -> None:
    """Process new bronze data: silver (VEE) → gold → warehouse."""
    from wattlake.pipeline.run import run_pipeline

    if engine is not None and engine not in ("duckdb", "spark"):
        raise InputError(f"unknown engine '{engine}' (known: duckdb, spark)")
    s = _settings(home, engine=engine, profile=profile)
    summary = run_pipeline(
        s, progress=lambda step: err.print(f"[dim]… {step}[/dim]") if err.is_terminal else None
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
    cols, rows = run_sql(s.home, query)
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
    for info in list_tables(s.home):
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
    home: HomeOpt = None,
) -> None:
    """Generate sample data (with faults), ingest it, run every layer, print a summary."""
    from wattlake.pipeline.demo import run_demo

    s = _settings(home, engine=engine)
    t0 = time.perf_counter()
    with _progress() as prog:
        report = run_demo(s, households=households, days=days, seed=seed, progress=prog)
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
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.ClickException):
            err.print(f"[red]error:[/red] {exc.format_message()}", highlight=False)
            code = exc.exit_code
        else:
            err.print(
                f"[red]error:[/red] unexpected {type(exc).__name__}: {exc} "
                "(details in <home>/logs/wattlake.jsonl)",
                highlight=False,
                soft_wrap=True,
            )
            import logging

            logging.getLogger("wattlake").exception("unexpected error")
            code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    # delta-rs' runtime threads can abort the interpreter at teardown; skip it.
    os._exit(code)


if __name__ == "__main__":
    main()
