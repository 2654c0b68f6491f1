"""`wattlake demo`: generate → ingest (+ weather and prices) → run → summary.

Offline by default: weather and prices are generated and landed like API responses
(`pipeline.demo_external`); `online=True` fetches them (Open-Meteo, Energy-Charts, PVGIS).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table

from wattlake.context import Context
from wattlake.generate import generate
from wattlake.generate.smart_meter_etl import generate_smart_meter_etl
from wattlake.landing import LandingSummary
from wattlake.pipeline.demo_external import DemoExternal, online_external, synthetic_external
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import RunSummary, run_pipeline
from wattlake.quality.report import load_latest, render_report
from wattlake.quality.runner import pass_rates
from wattlake.query import run_sql
from wattlake.reports.run import run_report

# The smart-meter-etl part of the demo: meterpoints and days of JSON readings.
SME_METERPOINTS, SME_DAYS = 10, 7


@dataclass
class DemoReport:
    ingest: LandingSummary
    run: RunSummary
    figures: dict[str, Any]
    grades: list[tuple[str, int]]
    quarantine_rules: list[tuple[str, int]]
    peaks: list[tuple[Any, ...]]
    quality: dict[str, dict[str, float | int]]
    report_path: Any
    external: DemoExternal | None = None

    def render(self) -> Group:
        f = self.figures
        head = Table(title="wattlake demo summary", show_header=False)
        head.add_column("what")
        head.add_column("value", justify="right")
        for k, v in f.items():
            head.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
        grades = Table(title="quality grades (silver)")
        grades.add_column("grade")
        grades.add_column("readings", justify="right")
        for g, n in self.grades:
            grades.add_row(g, f"{n:,}")
        rules = Table(title="quarantine by rule")
        rules.add_column("rules")
        rules.add_column("rows", justify="right")
        for r, n in self.quarantine_rules:
            rules.add_row(r, f"{n:,}")
        peaks = Table(title="top peak hours (all households, kWh)")
        for c in ("date", "hour (UTC)", "rank", "kWh"):
            peaks.add_column(c)
        for row in self.peaks:
            peaks.add_row(*[str(x) for x in row])
        quality = Table(title="data-quality checks (this run)")
        for c in ("layer", "passed", "failed", "skipped", "pass rate"):
            quality.add_column(c)
        for layer, v in self.quality.items():
            quality.add_row(
                layer,
                str(v["passed"]),
                str(v["failed"]),
                str(v["skipped"]),
                f"{float(v['pass_ratio']):.0%}",
            )
        parts: list[Any] = [head, grades, rules, peaks, quality]
        if self.external is not None:
            ext = Table(title=f"external data ({self.external.mode})")
            for c in ("source", "status", "rows", "request"):
                ext.add_column(c, justify="right" if c == "rows" else "left")
            for o in self.external.outcomes:
                url = o.url if len(o.url) <= 90 else o.url[:87] + "..."
                ext.add_row(o.source, o.status, f"{o.rows_merged:,}", url)
            parts.append(ext)
        return Group(*parts, f"quality report: {self.report_path}")


def _one(ctx: Context, sql: str) -> Any:
    return run_sql(ctx.sql(), sql)[1][0][0]


def run_demo(
    ctx: Context,
    households: int,
    days: int,
    seed: int = 42,
    progress: Any = None,
    *,
    online: bool = False,
    client: Any = None,
) -> DemoReport:
    """Generate faulty sample data into `<home>/demo-input`, ingest it and run every layer.

    Weather and prices: generated (no network) unless `online`, then fetched (`client`:
    an `HttpClient` to use instead of the default one)."""
    src = ctx.settings.home / "demo-input"
    expected = households * days * 48
    task = progress.add_task("generate", total=expected) if progress else None
    gen = generate(
        src,
        households,
        days,
        seed=seed,
        fmt="lcl",
        faults=True,
        progress=(lambda n: progress.update(task, completed=n)) if progress else None,
    )
    if progress:
        progress.update(task, completed=expected)
        task = progress.add_task("ingest", total=len(gen.files) + 1)
    ingested = ingest_files(
        ctx,
        [gen.users_file, *gen.files],
        progress=(lambda _f: progress.advance(task)) if progress else None,
    )
    # The smart-meter-etl case (seeds/smart-meter-etl.md): a SQLite database of meterpoints,
    # products and agreements plus daily JSON readings, for the first week.
    sme_start = gen.start or dt.date(2024, 3, 1)
    sme = generate_smart_meter_etl(
        src / "smart-meter-etl",
        meterpoints=SME_METERPOINTS,
        days=min(days, SME_DAYS),
        start=sme_start,
        seed=seed,
    )
    ingest_files(ctx, [sme.database])
    ingest_files(ctx, sme.readings_files)
    if progress:
        task = progress.add_task("weather + prices", total=None)
    external = (
        online_external(ctx, gen, client)
        if online
        else synthetic_external(ctx, gen, seed, src / "api")
    )
    if progress:
        progress.update(task, total=1, completed=1)
        task = progress.add_task("run", total=4)
    summary = run_pipeline(ctx, progress=(lambda _s: progress.advance(task)) if progress else None)
    sme_day = sme_start + dt.timedelta(days=min(days, SME_DAYS) - 1)
    reports = {
        name: run_report(ctx, name, sme_day, sme_day).rows.num_rows
        for name in ("active-agreements", "half-hourly", "daily-product")
    }
    figures = {
        "households": households,
        "days": days,
        "meters": _one(ctx, "SELECT count(DISTINCT meter_id) FROM bronze.meter_readings"),
        "input lines": sum(f.lines for f in ingested.files if f.fmt != "users"),
        "bronze rows": _one(ctx, "SELECT count(*) FROM bronze.meter_readings"),
        "exact re-sends (not landed)": ingested.duplicates,
        "dead letters": _one(ctx, "SELECT count(*) FROM ops.dead_letter"),
        "silver rows": _one(ctx, "SELECT count(*) FROM silver.meter_readings"),
        "quarantined rows": _one(ctx, "SELECT count(*) FROM silver.quarantine"),
        "mean quality score": _one(
            ctx, "SELECT round(avg(quality_score), 1) FROM silver.meter_readings"
        ),
        "users (current)": _one(ctx, "SELECT count(*) FROM dw.dim_users WHERE is_current"),
        "user versions (SCD2)": _one(ctx, "SELECT count(*) FROM dw.dim_users"),
        "fact_energy_flow rows": _one(ctx, "SELECT count(*) FROM dw.fact_energy_flow"),
        "weather grid points": len(external.points),
        "weather hours (silver)": _one(ctx, "SELECT count(*) FROM silver.weather"),
        "price intervals (silver)": _one(ctx, "SELECT count(*) FROM silver.prices"),
        "enriched readings (gold)": _one(ctx, "SELECT count(*) FROM gold.readings_enriched"),
        "  with weather / price": _one(
            ctx,
            "SELECT count(temperature_c) || ' / ' || count(price_eur_per_kwh) "
            "FROM gold.readings_enriched",
        ),
        "modelled PV hours (gold)": _one(ctx, "SELECT count(*) FROM gold.pv_modelled_hourly"),
        "PV metered / modelled (kWh)": _one(
            ctx,
            "SELECT coalesce(round(sum(metered_kwh)), 0) || ' / ' "
            "|| coalesce(round(sum(modelled_kwh)), 0) FROM gold.pv_modelled_hourly "
            "WHERE metered_kwh IS NOT NULL",
        ),
    }
    grades = [
        (str(g), int(n))  # type: ignore[call-overload]
        for g, n in run_sql(
            ctx.sql(),
            "SELECT quality_grade, count(*) FROM silver.meter_readings GROUP BY 1 ORDER BY 1",
        )[1]
    ]
    rules = [
        (str(r), int(n))  # type: ignore[call-overload]
        for r, n in run_sql(
            ctx.sql(),
            "SELECT rules, count(*) FROM silver.quarantine GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
        )[1]
    ]
    peaks = run_sql(
        ctx.sql(),
        "SELECT date, hour, peak_rank, round(total_kwh, 1) FROM gold.peak_hours "
        "WHERE date = (SELECT max(date) FROM gold.peak_hours) ORDER BY peak_rank",
    )[1]
    stored = [r for r in load_latest(ctx.sql())[0] if r.run_id == summary.run_id]
    out_dir = ctx.settings.home / "reports" / "quality"
    html, _json = render_report(ctx.sql(), out_dir, results=stored)
    figures["alerts"] = _one(ctx, "SELECT count(*) FROM ops.alerts")
    figures["P2P trades (kWh)"] = _one(
        ctx, "SELECT coalesce(round(sum(energy_kwh), 1), 0) FROM gold.p2p_trades"
    )
    figures["P2P sales (EUR)"] = _one(
        ctx,
        "SELECT coalesce(round(sum(total_p2p_revenue), 2), 0) FROM dw.fact_monthly_summary",
    )
    figures["smart-meter-etl meterpoints / agreements"] = (
        f"{_one(ctx, 'SELECT count(*) FROM silver.meterpoints')} / "
        f"{_one(ctx, 'SELECT count(*) FROM silver.agreements')}"
    )
    figures[f"reports for {sme_day} (rows)"] = " / ".join(f"{k} {v}" for k, v in reports.items())
    return DemoReport(
        ingested, summary, figures, grades, rules, peaks, pass_rates(stored), html, external
    )
