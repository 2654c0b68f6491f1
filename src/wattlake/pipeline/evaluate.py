"""`wattlake vee evaluate`: estimation accuracy per method and gap length, on silver data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.transforms.vee.evaluate import holdout_errors, numbered, summarise

DEFAULT_GAPS = (1, 2, 4, 8, 16, 48)


def evaluate(
    ctx: Context, gap_readings: tuple[int, ...] = DEFAULT_GAPS, every: int = 97
) -> list[dict[str, Any]]:
    """MAE/RMSE (kWh per interval) of each estimation method for each hidden-gap length."""
    lake = ctx.lake
    if (
        not lake.exists(cat.SILVER_READINGS)
        or lake.read(cat.SILVER_READINGS, ["meter_id"]).num_rows == 0
    ):
        raise InputError("silver is empty: ingest and `wattlake run` first")
    if any(g < 1 for g in gap_readings):
        raise InputError("gap lengths must be >= 1 reading")
    eng = ctx.engine
    silver = eng.materialize(numbered(eng.read(lake, cat.SILVER_READINGS)))
    parts = [
        eng.to_arrow(
            summarise(holdout_errors(silver, g, max(every, g + 2), checkpoint=eng.materialize), g)
        )
        for g in gap_readings
    ]
    out = pa.concat_tables(parts).to_pylist()
    return sorted(out, key=lambda r: (r["gap_readings"], r["method"]))


def write_report(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2, default=float) + "\n")
