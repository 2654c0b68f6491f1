"""`wattlake quarantine release`: the seed's manual override of quarantined readings.

A release is recorded in `ops.quarantine_releases` (who, when, why, which rule ids it
overrides); the next silver step re-judges only the released readings' meters, from the
earliest released interval on (minus the rules' lookback), so the released rows reach silver
with provenance `edited` and the `released` flag, and gold follows for the dates touched.
"""

from __future__ import annotations

import datetime as dt
import getpass

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import UTC_TS


def select_quarantined(
    lake: Lake,
    record_ids: list[str] | None = None,
    meter_id: str | None = None,
    rule: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pa.Table:
    """Quarantined rows matching every given filter (dates are UTC days, inclusive)."""
    q = lake.read(cat.SILVER_QUARANTINE)
    mask = pa.array([True] * q.num_rows, pa.bool_())
    if record_ids:
        mask = pc.and_(mask, pc.is_in(q["_record_id"], pa.array(record_ids)))
    if meter_id:
        mask = pc.and_(mask, pc.equal(q["meter_id"], meter_id))
    if rule:
        mask = pc.and_(mask, pc.match_substring(q["rules"], rule))
    if start or end:
        day = pc.cast(q["ts"], pa.date32())
        if start:
            mask = pc.and_(mask, pc.greater_equal(day, pa.scalar(start)))
        if end:
            mask = pc.and_(mask, pc.less_equal(day, pa.scalar(end)))
    return q.filter(pc.fill_null(mask, False))


def release(
    ctx: Context,
    reason: str,
    *,
    record_ids: list[str] | None = None,
    meter_id: str | None = None,
    rule: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    released_by: str | None = None,
) -> int:
    """Record the release of the matching quarantined rows; returns how many.

    Call `run_pipeline` afterwards (the CLI does) to move them into silver; it re-judges
    only their meters (`steps.silver.pending_releases`).
    """
    if not reason.strip():
        raise InputError("a release needs --reason")
    if not (record_ids or meter_id or rule or start or end):
        raise InputError("say which rows to release: --record-id, --meter, --rule, --from/--to")
    lake = ctx.lake
    rows = select_quarantined(lake, record_ids, meter_id, rule, start, end)
    hard = [r for r in rows.to_pylist() if "ts_unparseable" in r["rules"]]
    if hard:
        raise InputError(
            f"{len(hard)} matching row(s) have no usable timestamp (ts_unparseable) and "
            "cannot be released; narrow the selection"
        )
    if rows.num_rows == 0:
        raise InputError("no quarantined rows match")
    now = ctx.clock()
    who = released_by or getpass.getuser()
    rec = rows.select(["_record_id", "meter_id", "ts", "rules"])
    n = rec.num_rows
    rec = (
        rec.append_column("reason", pa.array([reason] * n))
        .append_column("released_by", pa.array([who] * n))
        .append_column("released_at", pa.array([now] * n, UTC_TS))
    )
    lake.insert_new(cat.OPS_RELEASES, rec)
    return n
