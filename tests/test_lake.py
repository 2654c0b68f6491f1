"""Lake tables: the columns a newer table spec adds reach a table stored by an older one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from wattlake.lake import tables as tbl
from wattlake.lake.tables import Lake


def test_columns_added_by_a_newer_spec(tmp_path: Path) -> None:
    new = tbl.SILVER_READINGS
    old = replace(new, columns=tuple(c for c in new.columns if c[0] != "quality_tier"))
    lake = Lake(tmp_path)
    row = {n: None for n in old.column_names} | {"meter_id": "M1", "quality_score": 95}
    lake.replace_where(old, pa.Table.from_pylist([row], old.arrow_schema), None)

    lake.replace_where(
        new,
        pa.Table.from_pylist([{"meter_id": "M2", "quality_tier": "premium"}], new.arrow_schema),
        "meter_id = 'M2'",
    )
    got = lake.read(new).sort_by("meter_id").select(["meter_id", "quality_tier"]).to_pylist()
    assert got == [
        {"meter_id": "M1", "quality_tier": None},  # stored before the column existed
        {"meter_id": "M2", "quality_tier": "premium"},
    ]
