"""Operator commands: the meter `registry`, `quarantine` release, `vee evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from wattlake.cli.common import HomeOpt, open_context, out, print_run, sub_app
from wattlake.cli.data import _date
from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.lake import catalog as cat

registry_app = sub_app("registry", "The meter registry (known meters, vacant allow-list).")
quarantine_app = sub_app("quarantine", "List and release quarantined readings.")
vee_app = sub_app("vee", "Validation, estimation and editing (VEE) tools.")


@registry_app.command("load")
def registry_load(
    file: Annotated[Path, typer.Argument(help="CSV with a meter_id column (optional vacant).")],
    home: HomeOpt = None,
) -> None:
    """Replace the registry: unknown meters are rejected from the next run on."""
    from wattlake.pipeline.registry import load_registry

    with open_context(home) as ctx:
        n = load_registry(ctx, file)
    out.print(f"registry: {n:,} meters loaded; `wattlake run --rebuild` re-validates silver")


@quarantine_app.command("list")
def quarantine_list(
    meter: Annotated[str | None, typer.Option(help="Only this meter.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only rows quarantined by this rule.")] = None,
    rows: Annotated[
        int, typer.Option(help="Also list up to this many rows (record ids to release).")
    ] = 0,
    home: HomeOpt = None,
) -> None:
    """Quarantined readings per rule set (rows, meters, first and last interval), and the rows
    themselves with --rows N."""
    from wattlake.lake.predicates import sql_str

    where = ["TRUE"]
    if meter:
        where.append(f"meter_id = {sql_str(meter)}")
    if rule:
        where.append(f"contains(rules, {sql_str(rule)})")
    cond = " AND ".join(where)
    with open_context(home) as ctx:
        if not ctx.lake.exists(cat.SILVER_QUARANTINE):
            out.print("nothing quarantined (no run yet)")
            return
        con = ctx.sql()
        summary = con.execute(
            f"""SELECT rules, count(*), count(DISTINCT meter_id), min(ts), max(ts)
                FROM silver.quarantine WHERE {cond} GROUP BY 1 ORDER BY 2 DESC, 1"""
        ).fetchall()
        listed = (
            con.execute(
                f"""SELECT _record_id, meter_id, ts, value_raw, unit_raw, rules
                    FROM silver.quarantine WHERE {cond} ORDER BY meter_id, ts LIMIT {int(rows)}"""
            ).fetchall()
            if rows > 0
            else []
        )
    t = Table(title="quarantine by rule set")
    for c in ("rules", "rows", "meters", "first (UTC)", "last (UTC)"):
        t.add_column(c, justify="right" if c in ("rows", "meters") else "left")
    for r, n, m, first, last in summary:
        t.add_row(r, f"{n:,}", f"{m:,}", _when(first), _when(last))
    out.print(t)
    if listed:
        rows_t = Table(title=f"first {len(listed)} row(s)")
        for c in ("record id", "meter", "ts (UTC)", "value", "unit", "rules"):
            rows_t.add_column(c)
        for rid, m, ts, v, u, r in listed:
            rows_t.add_row(rid, m or "NULL", _when(ts), v or "", u or "", r)
        out.print(rows_t)
        out.print("release with: wattlake quarantine release --record-id ID --reason TEXT")


def _when(ts: object) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if hasattr(ts, "strftime") else "-"


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
    from wattlake.pipeline.run import run_pipeline

    with open_context(home) as ctx:
        n = _release(ctx, reason, record_id, meter, rule, date_from, date_to, by)
        out.print(f"released {n:,} reading(s); re-validating their meters")
        print_run(run_pipeline(ctx))


def _release(
    ctx: Context,
    reason: str,
    record_id: list[str] | None,
    meter: str | None,
    rule: str | None,
    date_from: str | None,
    date_to: str | None,
    by: str | None,
) -> int:
    from wattlake.pipeline.quarantine import release

    return release(
        ctx,
        reason,
        record_ids=record_id,
        meter_id=meter,
        rule=rule,
        start=_date(date_from, "--from") if date_from else None,
        end=_date(date_to, "--to") if date_to else None,
        released_by=by,
    )


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
    with open_context(home) as ctx:
        rows = evaluate(ctx, lengths, every)
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
