"""`ops.runs`: one row per landed input unit (file, API body, micro-batch) or pipeline step.

Every writer of `ops.runs` builds a `RunRecord` and calls `record_runs`, so the row layout
lives in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pyarrow as pa

from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake


@dataclass(frozen=True)
class RunRecord:
    """One `ops.runs` row (columns and units in docs/DATA_DICTIONARY.md)."""

    run_id: str
    step: str  # ingest | ingest_<api source> | silver | gold | warehouse | quality_gate_<layer> …
    source: str  # file path, URL, or "lake" for pipeline steps
    started_at: dt.datetime
    duration_s: float  # seconds
    status: str  # success | skipped | failed | blocked | overridden | warned
    batch_id: str | None = None
    engine: str = "duckdb"
    profile: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    rows_dead_letter: int = 0
    rows_duplicate: int = 0
    checksum: str | None = None
    message: str = ""


def record_runs(lake: Lake, records: Sequence[RunRecord]) -> None:
    """Append `records` to `ops.runs` (one Delta commit; nothing for an empty list)."""
    if not records:
        return
    rows = [asdict(r) | {"duration_s": round(r.duration_s, 4)} for r in records]
    lake.append(cat.OPS_RUNS, pa.Table.from_pylist(rows, schema=cat.OPS_RUNS.arrow_schema))
