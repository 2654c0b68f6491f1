"""Silver step for user profiles: `bronze.user_profiles` → `silver.user_profiles` (typed
history), rebuilt whole when new profile batches arrive (checkpoint step `silver_users`)."""

from __future__ import annotations

import time

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.pipeline.checkpoints import checkpoint
from wattlake.pipeline.runner import Run, StepResult
from wattlake.pipeline.steps.silver import pending_batches
from wattlake.transforms.users import typed_profiles

STEP = "silver_users"


def build(ctx: Context, run: Run) -> StepResult:
    """Typed user-profile history; rebuilt whole when new profile batches arrive."""
    t0 = time.perf_counter()
    res = StepResult(STEP)
    pending = pending_batches(ctx.tables, ctx.lake, cat.BRONZE_USERS, STEP)
    if not pending:
        res.message = "no new profile batches"
    else:
        bronze = ctx.tables.read(cat.BRONZE_USERS)
        out = ctx.tables.replace_where(cat.SILVER_USERS, typed_profiles(bronze), None)
        checkpoint(ctx.lake, STEP, pending, run.run_id, ctx.clock())
        res.rows_in, res.rows_out = out.rows, out.rows
        res.message = f"{len(pending)} new profile batch(es)"
    res.seconds = time.perf_counter() - t0
    return res
