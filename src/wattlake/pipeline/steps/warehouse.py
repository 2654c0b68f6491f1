"""Warehouse step: dims and facts of the gold plan's dates (all facts when the user profiles
changed) in one transaction on the context's target (DuckDB file or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import time

from wattlake.context import Context
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.steps.gold import GoldPlan
from wattlake.warehouse.loader import WarehouseResult, load_into

STEP = "warehouse"


def load_warehouse(ctx: Context, dates: list[dt.date], full_users: bool) -> WarehouseResult:
    """Load dims and facts for `dates` (all facts when `full_users`) in one transaction."""
    with ctx.warehouse() as target:
        return load_into(target, ctx.settings, dates, full_users)


def build(ctx: Context, run: Run, p: GoldPlan) -> StepResult:
    """Load the warehouse for the plan (module doc)."""
    t0 = time.perf_counter()
    wh = load_warehouse(ctx, p.dates, full_users=p.users_changed)
    return StepResult(
        STEP, rows_out=wh.fact_rows, seconds=time.perf_counter() - t0, message=wh.message
    )
