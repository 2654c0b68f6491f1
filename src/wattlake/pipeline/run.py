"""`wattlake run`: bronze → silver → gold → warehouse, incremental and idempotent.

The run calls the steps of `pipeline.steps` in order through `pipeline.runner` (retries,
`ops.runs`), with the quality gates between the layers:

    silver_users → silver → [gate bronze, gate silver] → enriched → gold → kpis →
    pv_modelled → [gate gold] → warehouse → gold checkpoint → [gate warehouse: report only]
    → alerts → metrics

Silver recomputes only the meters of new bronze batches (`pipeline.plan`); gold and the
warehouse recompute the dates those rows touch (`steps.gold.plan`). A run with no new data
writes nothing but its `ops.runs` rows, alerts and metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.observability.alerts import raise_alerts
from wattlake.observability.metrics import collect_metrics, store_metrics
from wattlake.pipeline.runner import RunSummary, StepResult, new_run, notify_run, record, run_step
from wattlake.pipeline.steps import (
    enriched,
    gold,
    kpis,
    pv_modelled,
    quality_gate,
    silver,
    silver_users,
    warehouse,
)

NO_READINGS = "no meter readings yet: run `wattlake ingest FILES` first (or `wattlake demo`)"


def has_readings(ctx: Context) -> bool:
    """True when bronze holds at least one meter reading."""
    if not ctx.lake.exists(cat.BRONZE_READINGS):
        return False
    return ctx.sql().execute("SELECT 1 FROM bronze.meter_readings LIMIT 1").fetchone() is not None


def run_pipeline(
    ctx: Context,
    profile: str | None = None,
    progress: Callable[[str], None] | None = None,
    rebuild: bool = False,
    force: bool = False,
) -> RunSummary:
    """Process everything new in bronze (everything with `rebuild`); see the module docstring.

    `force` promotes past failed error-severity quality checks (recorded in `ops.runs`)."""
    run = new_run(ctx, profile, rebuild=rebuild, force=force)
    step = partial(run_step, ctx, run, progress=progress)
    step("silver_users", lambda: silver_users.build(ctx, run))
    step("silver", lambda: silver.build(ctx, run))
    plan = gold.plan(ctx)
    readings = has_readings(ctx)
    if plan.empty or not readings:
        started = ctx.clock()
        why = NO_READINGS if not readings else "silver unchanged"
        record(ctx, run, StepResult("gold", message=why), started)
        record(ctx, run, StepResult("warehouse", message="gold unchanged"), started)
    else:
        # Silver changes are about to be promoted: the bronze and silver gates decide, on the
        # meters this run rewrote when it is the only silver run waiting for gold.
        scoped = ctx.settings.gate_scope == "run"
        scope = None
        if scoped and run.silver_meters is not None and plan.pending_runs == [run.run_id]:
            scope = quality_gate.meter_scope(run.silver_meters)
        quality_gate.check(ctx, run, "bronze", scope=scope)
        quality_gate.check(ctx, run, "silver", scope=scope)
        step("enriched", lambda: enriched.build(ctx, run, plan))
        step("gold", lambda: gold.build(ctx, run, plan))
        step("kpis", lambda: kpis.build(ctx, run, plan))
        step("pv_modelled", lambda: pv_modelled.build(ctx, run, plan))
        if plan.dates:
            whole = plan.users_changed or not scoped
            dates = None if whole else quality_gate.date_scope(plan.dates)
            quality_gate.check(ctx, run, "gold", scope=dates)
        step("warehouse", lambda: warehouse.build(ctx, run, plan))
        gold.commit(ctx, run, plan)
    if any(s.step == "warehouse" and s.rows_out for s in run.summary.steps):
        quality_gate.check(ctx, run, "warehouse", force=True)  # committed: report, not block
    raise_alerts(ctx.sql(), ctx.lake, run.run_id, now=ctx.clock())
    notify_run(ctx, run)
    store_metrics(ctx.lake, collect_metrics(ctx.sql(), ctx.clock()), run.run_id)
    return run.summary
