"""`wattlake quality ...` and `wattlake metrics` commands (typer), mounted by `wattlake.cli`."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated

import typer

from wattlake.config import load_settings
from wattlake.lake.delta import Lake
from wattlake.logs import configure_logging

quality_app = typer.Typer(help="Data-quality checks and reports.")

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default $WATTLAKE_HOME or ./wattlake-data)."),
]


@quality_app.command("report")
def quality_report(
    out: Annotated[Path, typer.Option("--out", help="Directory for the HTML + JSON report.")],
    layer: Annotated[
        list[str] | None, typer.Option("--layer", help="Only these layers (repeatable).")
    ] = None,
    no_run: Annotated[
        bool, typer.Option("--no-run", help="Report the latest stored results, run nothing.")
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Run every check (stored in ops.quality_results), write quality-report.html/.json."""
    from wattlake.quality.report import render_report
    from wattlake.quality.runner import pass_rates, run_checks, store_results

    s = load_settings(home=home)
    configure_logging(s.home / "logs", s.log_level, s.log_stderr)
    results = None
    if not no_run:
        run_id = "quality-" + uuid.uuid4().hex[:12]
        results = run_checks(s.home, s.warehouse, run_id, layers=layer, profile=s.profile)
        store_results(Lake(s.home), results)
        for lay, v in pass_rates(results).items():
            typer.echo(f"{lay:<10} {v['passed']}/{int(v['passed']) + int(v['failed'])} passed")
    html_path, json_path = render_report(s.home, s.warehouse, out, results)
    typer.echo(f"report: {html_path}\njson:   {json_path}")
    if results and any(r.failed and r.severity == "error" for r in results):
        raise typer.Exit(1)


def metrics(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (default: stdout).")
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Also record the samples in ops.metrics.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Prometheus text exposition of the pipeline metrics (textfile-collector friendly)."""
    from prometheus_client import generate_latest

    from wattlake.observability.metrics import build_registry, collect_metrics, store_metrics

    s = load_settings(home=home)
    fams = collect_metrics(s.home, s.warehouse, dt.datetime.now(dt.UTC))
    text = generate_latest(build_registry(fams)).decode()
    if store:
        store_metrics(Lake(s.home), fams, store)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)  # atomic for the node-exporter textfile collector
    else:
        typer.echo(text, nl=False)
