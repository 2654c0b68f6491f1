"""`ops.checkpoints`: which batches each step has processed (one row per step and batch).

Steps:
- `silver` / `silver_users`: bronze batches processed into silver (batch id → run id);
- `silver_external`: external silver batches (weather, prices, PV) whose dates gold has to
  recompute (batch id → the ingest run that wrote them);
- `gold`: silver runs and external ingest runs whose changes reached gold and the warehouse
  (the "batch id" is the run id).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.predicates import sql_in, sql_str

EXTERNAL_STEP = "silver_external"


def checkpointed(lake: Lake, step: str) -> set[str]:
    """The batch ids `step` has processed."""
    ck = lake.read(cat.OPS_CHECKPOINTS)
    return set(ck.filter(pc.equal(ck["step"], step))["batch_id"].to_pylist())


def forget(lake: Lake, step: str, batch_ids: list[str]) -> None:
    """Make `step` treat these batches as unprocessed again."""
    lake.delete(cat.OPS_CHECKPOINTS, f"step = {sql_str(step)} AND batch_id IN {sql_in(batch_ids)}")


def checkpoint(
    lake: Lake,
    step: str,
    batch_ids: list[str],
    run_id: str,
    now: dt.datetime,
    replace: bool = False,
) -> None:
    """Mark batches as processed by `step` in `run_id` (`replace`: re-processed batches take
    this run's id, so the steps downstream see them as pending again)."""
    if replace and batch_ids:
        forget(lake, step, batch_ids)
    lake.insert_new(
        cat.OPS_CHECKPOINTS,
        pa.Table.from_pylist(
            [
                {"step": step, "batch_id": b, "run_id": run_id, "processed_at": now}
                for b in batch_ids
            ],
            schema=cat.OPS_CHECKPOINTS.arrow_schema,
        ),
    )


def mark_external(lake: Lake, batch_id: str, run_id: str, now: dt.datetime) -> None:
    """Record that `run_id` (re)wrote the external silver rows of `batch_id`: gold recomputes
    their dates on the next run (the batch takes this run's id even if applied before)."""
    checkpoint(lake, EXTERNAL_STEP, [batch_id], run_id, now, replace=True)
