"""`wattlake demo`: generate → ingest → run → summary, offline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table

from wattlake.config import Settings
from wattlake.generate import generate
from wattlake.pipeline.ingest import IngestSummary, ingest_files
from wattlake.pipeline.run import RunSummary, run_pipeline
from wattlake.quality.report import load_latest, render_report
from wattlake.quality.runner import pass_rates
from wattlake.query import run_sql


@dataclass
class DemoReport:
    ingest: IngestSummary
    run: RunSummary
    figures: dict[str, Any]
    grades: list[tuple[str, int]]
    quarantine_rules: list[tuple[str, int]]
    peaks: list[tuple[Any, ...]]
    quality: dict[str, dict[str, float | int]]
    report_path: Any

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
        return Group(head, grades, rules, peaks, quality, f"quality report: {self.report_path}")


def _one(settings: Settings, sql: str) -> Any:
    return run_sql(settings.home, sql, settings.warehouse)[1][0][0]


def run_demo(
    settings: Settings, households: int, days: int, seed: int = 42, progress: Any = None
) -> DemoReport:
    """Generate faulty sample data into `<home>/demo-input`, ingest it and run every layer."""
    src = settings.home / "demo-input"
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
        settings,
        [gen.users_file, *gen.files],
        progress=(lambda _f: progress.advance(task)) if progress else None,
    )
    if progress:
        task = progress.add_task("run", total=4)
    summary = run_pipeline(
        settings, progress=(lambda _s: progress.advance(task)) if progress else None
    )
    figures = {
        "households": households,
        "days": days,
        "meters": _one(settings, "SELECT count(DISTINCT meter_id) FROM bronze.meter_readings"),
        "input lines": sum(f.lines for f in ingested.files if f.fmt != "users"),
        "bronze rows": _one(settings, "SELECT count(*) FROM bronze.meter_readings"),
        "exact re-sends (not landed)": ingested.duplicates,
        "dead letters": _one(settings, "SELECT count(*) FROM ops.dead_letter"),
        "silver rows": _one(settings, "SELECT count(*) FROM silver.meter_readings"),
        "quarantined rows": _one(settings, "SELECT count(*) FROM silver.quarantine"),
        "mean quality score": _one(
            settings, "SELECT round(avg(quality_score), 1) FROM silver.meter_readings"
        ),
        "users (current)": _one(settings, "SELECT count(*) FROM dw.dim_users WHERE is_current"),
        "user versions (SCD2)": _one(settings, "SELECT count(*) FROM dw.dim_users"),
        "fact_energy_flow rows": _one(settings, "SELECT count(*) FROM dw.fact_energy_flow"),
    }
    grades = [
        (g, n)
        for g, n in run_sql(
            settings.home,
            "SELECT quality_grade, count(*) FROM silver.meter_readings GROUP BY 1 ORDER BY 1",
        )[1]
    ]
    rules = [
        (r, n)
        for r, n in run_sql(
            settings.home,
            "SELECT rules, count(*) FROM silver.quarantine GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
        )[1]
    ]
    peaks = run_sql(
        settings.home,
        "SELECT date, hour, peak_rank, round(total_kwh, 1) FROM gold.peak_hours "
        "WHERE date = (SELECT max(date) FROM gold.peak_hours) ORDER BY peak_rank",
    )[1]
    stored = [
        r for r in load_latest(settings.home, settings.warehouse)[0] if r.run_id == summary.run_id
    ]
    html, _json = render_report(
        settings.home, settings.warehouse, settings.home / "reports" / "quality", results=stored
    )
    figures["alerts"] = _one(settings, "SELECT count(*) FROM ops.alerts")
    return DemoReport(ingested, summary, figures, grades, rules, peaks, pass_rates(stored), html)
