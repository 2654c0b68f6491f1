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
from wattlake.pipeline.external import ExternalOutcome
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import RunSummary, run_pipeline
from wattlake.quality.report import load_latest, render_report
from wattlake.quality.runner import pass_rates
from wattlake.query import run_sql
from wattlake.reports.run import run_report

# The smart-meter-etl part of the demo: meterpoints and days of JSON readings.
SME_METERPOINTS, SME_DAYS = 10, 7


@dataclass
class InputGroup:
    """One kind of demo input and what landing did with its lines (they add up:
    lines = landed + re-sends + dead letters)."""

    name: str
    files: int
    lines: int
    landed: int
    resends: int
    dead_letters: int


def input_groups(groups: dict[str, LandingSummary]) -> list[InputGroup]:
    """Per kind of input: files, lines and where each line went."""
    out = []
    for name, summary in groups.items():
        files = [f for f in summary.files if f.status == "ingested"]
        out.append(
            InputGroup(
                name,
                len({f.source_file.split("#")[0] for f in files}),
                sum(f.lines for f in files),
                sum(f.landed for f in files),
                sum(f.duplicates for f in files),
                sum(f.dead_letters for f in files),
            )
        )
    return out


@dataclass
class DemoReport:
    inputs: list[InputGroup]
    run: RunSummary
    accounting: dict[str, int]  # bronze readings → silver measured / quarantine; silver rows
    figures: dict[str, Any]
    grades: list[tuple[str, int]]
    quarantine_rules: list[tuple[str, int]]
    peaks: list[tuple[Any, ...]]
    quality: dict[str, dict[str, float | int]]
    report_path: Any
    external: DemoExternal | None = None

    def render(self) -> Group:
        parts: list[Any] = [self._inputs(), self._accounting()]
        head = Table(title="wattlake demo summary", show_header=False)
        head.add_column("what")
        head.add_column("value", justify="right")
        for k, v in self.figures.items():
            head.add_row(k, _fmt(v))
        parts.append(head)
        grades = Table(title="quality grades (silver)")
        grades.add_column("grade")
        grades.add_column("readings", justify="right")
        for g, n in self.grades:
            grades.add_row(g, _fmt(n))
        rules = Table(title="quarantine by rule")
        rules.add_column("rules")
        rules.add_column("rows", justify="right")
        for r, n in self.quarantine_rules:
            rules.add_row(r, _fmt(n))
        peaks = Table(title="top peak hours (all households, kWh)")
        for c in ("date", "hour (UTC)", "rank", "kWh"):
            peaks.add_column(c, justify="left" if c == "date" else "right")
        for row in self.peaks:
            peaks.add_row(*[_fmt(x) for x in row])
        quality = Table(title="data-quality checks (this run)")
        for c in ("layer", "passed", "failed", "skipped", "pass rate"):
            quality.add_column(c, justify="left" if c == "layer" else "right")
        for layer, v in self.quality.items():
            quality.add_row(
                layer,
                _fmt(v["passed"]),
                _fmt(v["failed"]),
                _fmt(v["skipped"]),
                f"{float(v['pass_ratio']):.0%}",
            )
        parts += [grades, rules, peaks, quality]
        if self.external is not None:
            parts.append(self._external(self.external))
        return Group(*parts, f"quality report: {self.report_path}")

    def _inputs(self) -> Table:
        t = Table(title="inputs: every line landed, a re-send, or a dead letter")
        cols = ("input", "files", "lines", "landed", "re-sends", "dead letters")
        for c in cols:
            t.add_column(c, justify="left" if c == "input" else "right")
        for g in self.inputs:
            t.add_row(g.name, *(_fmt(x) for x in (g.files, g.lines, g.landed, g.resends,
                                                   g.dead_letters)))  # fmt: skip
        total = [sum(getattr(g, a) for g in self.inputs)
                 for a in ("files", "lines", "landed", "resends", "dead_letters")]  # fmt: skip
        t.add_row("total", *(_fmt(x) for x in total), style="bold")
        return t

    def _accounting(self) -> Table:
        a = self.accounting
        t = Table(title="meter readings: bronze → silver", show_header=False)
        t.add_column("what")
        t.add_column("rows", justify="right")
        t.add_row("bronze readings (landed from the blocks + readings JSON)", _fmt(a["bronze"]))
        t.add_row("  = silver measured (actual + edited)", _fmt(a["measured"]))
        t.add_row("  + quarantined", _fmt(a["quarantined"]))
        t.add_row("silver rows", _fmt(a["silver"]))
        t.add_row("  = measured", _fmt(a["measured"]))
        t.add_row("  + estimated (short gaps, interpolated)", _fmt(a["estimated"]))
        return t

    @staticmethod
    def _external(ext: DemoExternal) -> Table:
        t = Table(title=f"external data ({ext.mode}): one line per source")
        for c in ("source", "responses", "failed", "rows merged into silver"):
            t.add_column(c, justify="left" if c == "source" else "right")
        by_source: dict[str, list[ExternalOutcome]] = {}
        for o in ext.outcomes:
            by_source.setdefault(o.source, []).append(o)
        for source, outcomes in sorted(by_source.items()):
            failed = sum(o.status != "success" for o in outcomes)
            merged = sum(o.rows_merged for o in outcomes)
            t.add_row(source, _fmt(len(outcomes)), _fmt(failed), _fmt(merged))
        return t


def _fmt(v: Any) -> str:
    """Numbers alike: integers with thousands separators, floats with their decimals."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


# The demo's small forecast: every model family, one fast configuration, no tuning.
DEMO_FORECAST_PARAMS = {"num_boost_round": 40, "max_depth": 4, "eta": 0.2, "max_bin": 32}
DEMO_FORECAST_TRAIN_DAYS = 14
DEMO_FORECAST_MIN_DAYS = 16  # 7 days of history + 7 days of backtest + 2


def demo_forecast(ctx: Context, days: int) -> dict[str, Any]:
    """Train every forecast family small (one fold, no refit), forecast the next 24 h;
    summary figures. Skipped (with the reason) without the forecast extra or enough days."""
    if days < DEMO_FORECAST_MIN_DAYS:
        return {"forecasts": f"skipped: needs {DEMO_FORECAST_MIN_DAYS}+ days"}
    try:
        import mlflow  # noqa: F401
        import xgboost  # noqa: F401
    except ImportError:
        return {"forecasts": "skipped: pip install 'wattlake[forecast]'"}
    from wattlake.forecast.dataset import FAMILIES
    from wattlake.forecast.train import TrainOptions
    from wattlake.pipeline.runner import new_run
    from wattlake.pipeline.steps.forecast import predict_step, train_step

    opts = TrainOptions(
        cv_folds=1,
        candidates=({},),
        params=DEMO_FORECAST_PARAMS,
        refit=False,
        max_train_days=DEMO_FORECAST_TRAIN_DAYS,
    )
    run = new_run(ctx)
    _, trained = train_step(ctx, run, list(FAMILIES), opts)
    _, pred = predict_step(ctx, run)
    out: dict[str, Any] = {}
    for r in trained:
        for level, m in r.by_level.items():
            out[f"forecast {level} MAE vs best persistence"] = (
                f"{m['mae']:.3g} vs {m['best_persistence_mae']:.3g} "
                f"({m['improvement_vs_persistence']:+.0%}), P10-P90 coverage {m['coverage']:.0%}"
            )
    out["forecasts (gold, next 24 h)"] = sum(pred.rows.values())
    out["forecasts issued at (UTC)"] = str(pred.issued_at)
    out["trading advice rows"] = pred.advice_rows
    return out


def _one(ctx: Context, sql: str) -> Any:
    return run_sql(ctx.sql(), sql)[1][0][0]


def _pair(ctx: Context, sql: str) -> str:
    """`a / b` of a query's two numbers, formatted alike."""
    a, b = run_sql(ctx.sql(), sql)[1][0]
    return f"{_fmt(a)} / {_fmt(b)}"


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
        now=ctx.clock(),
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

    def only(fmt_is_users: bool) -> LandingSummary:
        files = [f for f in ingested.files if (f.fmt == "users") == fmt_is_users]
        return LandingSummary(ingested.run_id, files)

    groups = {
        "households: LCL blocks (readings)": only(False),
        "households: users.csv (profiles)": only(True),
        "smart-meter-etl: agreements.db (3 tables)": ingest_files(ctx, [sme.database]),
        "smart-meter-etl: readings JSON": ingest_files(ctx, sme.readings_files),
    }
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
    accounting = {
        "bronze": _one(ctx, "SELECT count(*) FROM bronze.meter_readings"),
        "measured": _one(ctx, "SELECT count(*) FROM silver.meter_readings WHERE NOT is_estimated"),
        "estimated": _one(ctx, "SELECT count(*) FROM silver.meter_readings WHERE is_estimated"),
        "quarantined": _one(ctx, "SELECT count(*) FROM silver.quarantine"),
        "silver": _one(ctx, "SELECT count(*) FROM silver.meter_readings"),
    }
    figures = {
        "households": households,
        "days": days,
        "meters": _one(ctx, "SELECT count(DISTINCT meter_id) FROM bronze.meter_readings"),
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
        "  with weather / price": _pair(
            ctx, "SELECT count(temperature_c), count(price_eur_per_kwh) FROM gold.readings_enriched"
        ),
        "modelled PV hours (gold)": _one(ctx, "SELECT count(*) FROM gold.pv_modelled_hourly"),
        "PV metered / modelled (kWh)": _pair(
            ctx,
            "SELECT CAST(coalesce(round(sum(metered_kwh)), 0) AS BIGINT), "
            "CAST(coalesce(round(sum(modelled_kwh)), 0) AS BIGINT) FROM gold.pv_modelled_hourly "
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
    figures["smart-meter-etl meterpoints / agreements"] = _pair(
        ctx,
        "SELECT (SELECT count(*) FROM silver.meterpoints), "
        "(SELECT count(*) FROM silver.agreements)",
    )
    figures[f"reports for {sme_day} (rows)"] = ", ".join(
        f"{k} {_fmt(v)}" for k, v in reports.items()
    )
    if progress:
        task = progress.add_task("forecast: train + predict", total=None)
    figures.update(demo_forecast(ctx, days))
    if progress:
        progress.update(task, total=1, completed=1)
    return DemoReport(
        input_groups(groups),
        summary,
        accounting,
        figures,
        grades,
        rules,
        peaks,
        pass_rates(stored),
        html,
        external,
    )
