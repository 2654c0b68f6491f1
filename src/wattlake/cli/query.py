"""Read-only commands: `sql` (one statement over every table) and `tables`."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from wattlake.cli.common import HomeOpt, app, human_bytes, open_context, out
from wattlake.errors import InputError


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
    with open_context(home) as ctx:
        cols, rows = run_sql(ctx.sql(), query)
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

    with open_context(home) as ctx:
        t = Table(title=f"tables in {ctx.settings.home}")
        for col in ("table", "rows", "size", "last update (UTC)"):
            t.add_column(col, justify="right" if col in ("rows", "size") else "left")
        for info in list_tables(ctx.sql(), ctx.lake):
            when = info.last_update.strftime("%Y-%m-%d %H:%M:%S") if info.last_update else "-"
            t.add_row(info.name, f"{info.rows:,}", human_bytes(info.size_bytes), when)
    out.print(t)
