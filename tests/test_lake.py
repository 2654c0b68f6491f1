"""Lake tables: the columns a newer table spec adds reach a table stored by an older one;
clustered tables are written sorted, in small row groups, so a filter skips row groups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wattlake.lake import tables as tbl
from wattlake.lake.tables import Lake

CLUSTERED = tbl.TableSpec(
    "test",
    "clustered",
    (("meter_id", pa.string()), ("line", pa.int64()), ("_record_id", pa.string())),
    cluster_by=("meter_id",),
)
PLAIN = replace(CLUSTERED, name="plain", cluster_by=())


def _rows(ids: list[str]) -> pa.Table:
    """One row per id, `line` = position, `_record_id` unique."""
    return pa.table(
        {
            "meter_id": ids,
            "line": list(range(len(ids))),
            "_record_id": [f"r{i}" for i in range(len(ids))],
        }
    )


def _row_groups(lake: Lake, spec: tbl.TableSpec) -> list[list[tuple[str, int]]]:
    """(meter_id, line) of every row group of every data file of the table."""
    out = []
    for path in sorted(lake.path(spec).rglob("*.parquet")):
        f = pq.ParquetFile(path)
        for i in range(f.num_row_groups):
            g = f.read_row_group(i, columns=["meter_id", "line"])
            out.append(list(zip(g["meter_id"].to_pylist(), g["line"].to_pylist(), strict=True)))
    return [g for g in out if g]


WRITES: dict[str, Callable[[Lake, tbl.TableSpec, pa.Table], object]] = {
    "append": lambda lake, spec, t: lake.append(spec, t),
    "insert_new": lambda lake, spec, t: lake.insert_new(spec, t, ["_record_id"]),
    "replace_where": lambda lake, spec, t: lake.replace_where(spec, t, None),
}
IDS = ["M3", "M1", "M2", "M1", "M3", "M2", "M1", "M2", "M3", "M1"]


@pytest.mark.parametrize("write", WRITES)
def test_clustered_table_is_written_sorted_in_small_row_groups(
    tmp_path: Path, write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tbl, "CLUSTERED_ROW_GROUP_ROWS", 3)
    lake = Lake(tmp_path)
    WRITES[write](lake, CLUSTERED, _rows(IDS))
    groups = _row_groups(lake, CLUSTERED)
    rows = [r for g in groups for r in g]
    # Sorted by meter, ties in input order (the sort is stable); at most 3 rows per group.
    assert rows == sorted(((m, i) for i, m in enumerate(IDS)), key=lambda r: r[0])
    assert max(len(g) for g in groups) == 3


def test_unclustered_table_keeps_input_order(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.append(PLAIN, _rows(IDS))
    assert [r for g in _row_groups(lake, PLAIN) for r in g] == list(
        zip(IDS, range(len(IDS)), strict=True)
    )


def test_filter_on_the_cluster_column_skips_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the silver VEE's meter chunks rely on: by their min/max statistics, only the
    row groups of the filtered meters can match (unsorted, every row group would)."""
    monkeypatch.setattr(tbl, "CLUSTERED_ROW_GROUP_ROWS", 100)
    ids = [f"M{i % 50:02d}" for i in range(5000)]  # 50 meters of 100 rows, interleaved
    for spec, expected in ((CLUSTERED, 5), (PLAIN, 1)):
        lake = Lake(tmp_path / spec.name)
        lake.append(spec, _rows(ids))
        (path,) = lake.path(spec).rglob("*.parquet")
        md = pq.ParquetFile(path).metadata
        stats = [md.row_group(i).column(0).statistics for i in range(md.num_row_groups)]
        overlapping = [s for s in stats if s.min <= "M14" and s.max >= "M10"]
        assert len(overlapping) == expected
        n = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{path}') WHERE meter_id BETWEEN 'M10' AND 'M14'"
        ).fetchone()
        assert n == (500,)
