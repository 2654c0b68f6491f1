"""Quality-gate step: run and store the checks of one layer; error-severity failures stop
promotion (`QualityGateError`, recorded as `blocked`) unless the run is forced.

A gate judges what its run promotes. With a scope, the checks run on a catalog whose big
tables show only the run's part: the bronze and silver gates the meters the silver step
rewrote (`meter_scope`), the gold gate the dates the gold steps recomputed (`date_scope`).
Every check compares like with like inside the scope (bronze ↔ silver of the same meters,
silver ↔ gold of the same dates), so a scoped gate finds what a whole-table one finds in the
rows this run wrote, at a cost that grows with the new data, not with the lake.
`wattlake quality report` always checks every row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_dates_in, sql_in, sql_str
from wattlake.pipeline.runner import Run, StepResult, record
from wattlake.quality.runner import QualityGateError, enforce_gate
from wattlake.query import open_catalog
from wattlake.transforms.parse import WHITESPACE


def meter_scope(meters: list[str]) -> dict[str, str]:
    """Catalog filters that keep the readings of `meters` (module doc)."""
    ids = sql_in(meters)
    return {
        cat.BRONZE_READINGS.qualified: f"trim(meter_id, {sql_str(''.join(WHITESPACE))}) IN {ids}",
        cat.SILVER_READINGS.qualified: f"meter_id IN {ids}",
        cat.SILVER_QUARANTINE.qualified: f"meter_id IN {ids} OR meter_id IS NULL",
        cat.SILVER_GAPS.qualified: f"meter_id IN {ids}",
    }


def date_scope(dates: list[dt.date]) -> dict[str, str]:
    """Catalog filters that keep the rows of `dates` in silver readings and the gold tables
    with a `date` column (module doc)."""
    pred = sql_dates_in(dates)
    specs = [s for s in cat.ALL_TABLES if s.schema == "gold" and "date" in s.column_names]
    return {s.qualified: pred for s in [cat.SILVER_READINGS, *specs]}


def check(
    ctx: Context,
    run: Run,
    layer: str,
    force: bool | None = None,
    scope: Mapping[str, str] | None = None,
) -> None:
    """The checks of `layer` (on the `scope`d catalog when given); failures are recorded in
    `ops.runs` as `blocked` (raised), `overridden` (forced) or `warned` (the warehouse layer,
    after its commit)."""
    started = ctx.clock()
    override = run.force if force is None else force
    con = ctx.sql() if scope is None else open_catalog(ctx.lake, ctx.settings.warehouse, scope)
    try:
        failures = enforce_gate(
            con,
            ctx.lake,
            run_id=run.run_id,
            layer=layer,
            force=override,
            profile=run.profile.name,
        )
    except QualityGateError as exc:
        record(ctx, run, StepResult(f"quality_gate_{layer}", message=str(exc)), started, "blocked")
        raise
    finally:
        if scope is not None:
            con.close()
    if failures:
        ids = ", ".join(f.check_id for f in failures)
        status = "overridden" if run.force and layer != "warehouse" else "warned"
        record(
            ctx, run, StepResult(f"quality_gate_{layer}", message=f"failed: {ids}"), started, status
        )
