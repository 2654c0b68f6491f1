"""`wattlake quality report` and `wattlake metrics`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from wattlake.cli.common import HomeOpt, app, open_context, sub_app

quality_app = sub_app("quality", "Data-quality checks and reports.")


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

    with open_context(home) as ctx:
        results = None
        if not no_run:
            run_id = "quality-" + uuid.uuid4().hex[:12]
            results = run_checks(ctx.sql(), run_id, layers=layer, profile=ctx.settings.profile)
            store_results(ctx.lake, results)
            for lay, v in pass_rates(results).items():
                passed, failed = int(v["passed"]), int(v["failed"])
                typer.echo(f"{lay:<10} {passed}/{passed + failed} passed")
        html_path, json_path = render_report(ctx.sql(), out, results)
    typer.echo(f"report: {html_path}\njson:   {json_path}")
    if results and any(r.failed and r.severity == "error" for r in results):
        raise typer.Exit(1)


@app.command()
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

    with open_context(home) as ctx:
        fams = collect_metrics(ctx.sql(), ctx.clock())
        if store:
            store_metrics(ctx.lake, fams, store)
    text = generate_latest(build_registry(fams)).decode()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)  # atomic for the node-exporter textfile collector
    else:
        typer.echo(text, nl=False)
