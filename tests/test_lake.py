"""Lake tables: the columns a newer table spec adds reach a table stored by an older one;
clustered tables are written sorted, in small row groups, so a filter skips row groups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wattlake.lake import catalog as cat
from wattlake.lake import delta
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec

CLUSTERED = TableSpec(
    "test",
    "clustered",
    (("meter_id", pa.string()), ("line", pa.int64()), ("_record_id", pa.string())),
    cluster_by=("meter_id",),
    merge_keys=("_record_id",),
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


def _files(lake: Lake, spec: TableSpec) -> list[list[list[tuple[str, int]]]]:
    """(meter_id, line) of every row of every non-empty row group of every data file."""
    out = []
    for path in sorted(lake.path(spec).rglob("*.parquet")):
        f = pq.ParquetFile(path)
        groups = [
            f.read_row_group(i, columns=["meter_id", "line"]) for i in range(f.num_row_groups)
        ]
        rows = [
            list(zip(g["meter_id"].to_pylist(), g["line"].to_pylist(), strict=True)) for g in groups
        ]
        out.append([g for g in rows if g])
    return [f for f in out if f]


def test_columns_added_by_a_newer_spec(tmp_path: Path) -> None:
    new = cat.SILVER_READINGS
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


IDS = ["M3", "M1", "M2", "M1", "M3", "M2", "M1", "M2", "M3", "M1"]


def _write(lake: Lake, spec: TableSpec, data: pa.Table, how: str) -> None:
    if how == "append":
        lake.append(spec, data)
    elif how == "insert_new":
        lake.insert_new(spec, data)
    else:
        lake.replace_where(spec, data, None)


WRITES = ["append", "insert_new", "replace_where"]


@pytest.mark.parametrize("write", WRITES)
def test_clustered_table_is_written_sorted_stably(tmp_path: Path, write: str) -> None:
    lake = Lake(tmp_path)
    _write(lake, CLUSTERED, _rows(IDS), write)
    (rows,) = [[r for g in f for r in g] for f in _files(lake, CLUSTERED)]
    # By meter, ties in input order.
    assert rows == sorted(((m, i) for i, m in enumerate(IDS)), key=lambda r: r[0])


@pytest.mark.parametrize("write", WRITES)
def test_clustered_table_is_written_in_small_narrow_row_groups(
    tmp_path: Path, write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups of at most `CLUSTERED_ROW_GROUP_ROWS` rows, each over a narrow range of
    meters. delta-rs may interleave a few batches of the sorted rows (one per CPU) and order
    the groups as it likes, so the check is the range, not the exact rows."""
    monkeypatch.setattr(delta, "CLUSTERED_ROW_GROUP_ROWS", 2000)
    meters = [f"M{i:03d}" for i in range(400)]
    data = _rows([meters[i % 400] for i in range(40_000)])  # interleaved
    lake = Lake(tmp_path)
    _write(lake, CLUSTERED, data, write)
    groups = [g for f in _files(lake, CLUSTERED) for g in f]
    assert sorted(r for g in groups for r in g) == sorted(
        zip(data["meter_id"].to_pylist(), data["line"].to_pylist(), strict=True)
    )
    assert max(len(g) for g in groups) <= 2000
    # 2000 rows are 20 meters; unsorted, every group would span all 400.
    spans = [meters.index(max(g)[0]) - meters.index(min(g)[0]) + 1 for g in groups]
    assert max(spans) <= 200


def test_unclustered_table_keeps_input_order(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.append(PLAIN, _rows(IDS))
    (rows,) = [[r for g in f for r in g] for f in _files(lake, PLAIN)]
    assert rows == list(zip(IDS, range(len(IDS)), strict=True))


def test_filter_on_the_cluster_column_skips_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the silver VEE's meter chunks rely on: by their min/max statistics, only the
    row groups of the filtered meters can match (unsorted, every row group would)."""
    monkeypatch.setattr(delta, "CLUSTERED_ROW_GROUP_ROWS", 100)
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
