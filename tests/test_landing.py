"""The one landing path (`wattlake.landing.land`): lineage, record ids, de-duplication,
manifest, dead letters and row accounting, for any batch source."""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pytest

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.landing import READING_KEY, Batch, land, record_ids, text_key

NOW = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)


def readings(*rows: tuple[str, str, str, str | None], start_line: int = 2) -> pa.Table:
    meters, ts, values, units = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table(
        {
            "meter_id": pa.array(meters, pa.string()),
            "timestamp": pa.array(ts, pa.string()),
            "value": pa.array(values, pa.string()),
            "unit": pa.array(units, pa.string()),
            "_row_number": pa.array(range(start_line, start_line + len(rows)), pa.int64()),
        }
    )


def batch(rows: pa.Table, checksum: str, dead: pa.Table | None = None, **kw: object) -> Batch:
    lines = rows.num_rows + (dead.num_rows if dead is not None else 0)
    return Batch(
        spec=cat.BRONZE_READINGS,
        rows=rows,
        source=f"{checksum}.csv",
        fmt="meter-csv",
        checksum=checksum,
        lines=lines,
        record_key=READING_KEY,
        dead=dead,
        **kw,  # type: ignore[arg-type]
    )


R1 = ("M1", "2024-03-01T00:00:00Z", "1.5", "kWh")
R2 = ("M1", "2024-03-01T00:30:00Z", "2.0", "kWh")
R3 = ("M2", "2024-03-01T00:00:00Z", "0.3", None)


def test_lineage_and_record_ids(ctx: Context) -> None:
    out = land(ctx, [batch(readings(R1, R3), "c1")], now=NOW)
    assert [(o.status, o.lines, o.landed, o.duplicates) for o in out] == [("ingested", 2, 2, 0)]
    rows = ctx.lake.read(cat.BRONZE_READINGS).sort_by("meter_id").to_pylist()
    assert rows[0]["_record_id"] == hashlib.sha256(b"M1|2024-03-01T00:00:00Z|1.5|kWh").hexdigest()
    # a missing unit counts as empty in the record id
    assert rows[1]["_record_id"] == hashlib.sha256(b"M2|2024-03-01T00:00:00Z|0.3|").hexdigest()
    assert {r["_batch_id"] for r in rows} == {"bc1"}
    assert {(r["_source_file"], r["_format"], r["ingest_date"]) for r in rows} == {
        ("c1.csv", "meter-csv", "2024-03-10")
    }
    assert [r["_ingested_at"] for r in rows] == [NOW, NOW]


def test_record_ids_match_landing(ctx: Context) -> None:
    rows = readings(R1, R3)
    land(ctx, [batch(rows, "c1")], now=NOW)
    stored = ctx.lake.read(cat.BRONZE_READINGS).sort_by("meter_id")["_record_id"].to_pylist()
    assert record_ids(ctx, rows, READING_KEY).to_pylist() == stored


@pytest.mark.parametrize(
    ("first", "second", "landed", "duplicates"),
    [
        pytest.param([R1, R2], [R2, R3], [2, 1], [0, 1], id="overlap_across_batches"),
        pytest.param([R1, R1, R2], [R3], [2, 1], [1, 0], id="repeat_within_a_batch"),
        pytest.param([R1], [R1], [1, 0], [0, 1], id="identical_rows_other_file"),
    ],
)
def test_first_occurrence_wins(
    ctx: Context,
    first: list[tuple[str, str, str, str | None]],
    second: list[tuple[str, str, str, str | None]],
    landed: list[int],
    duplicates: list[int],
) -> None:
    out = land(ctx, [batch(readings(*first), "a"), batch(readings(*second), "b")], now=NOW)
    assert [o.landed for o in out] == landed
    assert [o.duplicates for o in out] == duplicates
    assert ctx.lake.read(cat.BRONZE_READINGS).num_rows == sum(landed)


def test_stored_records_are_not_landed_again(ctx: Context) -> None:
    land(ctx, [batch(readings(R1, R2), "a")], now=NOW)
    out = land(ctx, [batch(readings(R2, R3), "b")], now=NOW)
    assert (out[0].landed, out[0].duplicates) == (1, 1)
    assert ctx.lake.read(cat.BRONZE_READINGS).num_rows == 3


def test_known_checksum_is_skipped(ctx: Context) -> None:
    land(ctx, [batch(readings(R1), "a")], now=NOW)
    out = land(ctx, [batch(readings(R1), "a"), batch(readings(R1), "a")], now=NOW)
    assert [o.status for o in out] == ["skipped", "skipped"]
    assert "already ingested as batch ba" in out[0].message
    assert ctx.lake.read(cat.OPS_MANIFEST).num_rows == 1


def test_same_bytes_twice_in_one_call(ctx: Context) -> None:
    out = land(ctx, [batch(readings(R1), "a"), batch(readings(R1), "a")], now=NOW)
    assert [o.status for o in out] == ["ingested", "skipped"]


def test_dead_letters_and_accounting(ctx: Context) -> None:
    dead = pa.table(
        {
            "line_number": pa.array([3], pa.int64()),
            "raw_text": ["garbage"],
            "reason": ["expected 4 fields, got 1"],
        }
    )
    rows = pa.concat_tables([readings(R1), readings(R1, start_line=4)])
    out = land(ctx, [batch(rows, "a", dead=dead)], now=NOW)[0]
    assert (out.lines, out.landed, out.duplicates, out.dead_letters) == (3, 1, 1, 1)
    assert out.lines == out.landed + out.duplicates + out.dead_letters
    letters = ctx.lake.read(cat.OPS_DEAD_LETTER).to_pylist()
    assert [(d["batch_id"], d["line_number"], d["source_file"]) for d in letters] == [
        ("ba", 3, "a.csv")
    ]


def test_tables_of_one_file_share_its_manifest_row(ctx: Context) -> None:
    """Like the tables of one SQLite database: several bronze tables, one checksum."""
    products = pa.table(
        {
            "product_id": ["1"],
            "display_name": ["Flat"],
            "is_variable": ["0"],
            "_row_number": pa.array([1], pa.int64()),
            "_rowid": pa.array([1], pa.int64()),
        }
    )
    meterpoints = pa.table(
        {
            "meterpoint_id": ["10", "11"],
            "region": ["A", "B"],
            "_row_number": pa.array([2, 3], pa.int64()),
            "_rowid": pa.array([1, 2], pa.int64()),
        }
    )
    batches = [
        Batch(
            spec=spec,
            rows=rows,
            source="db.sqlite",
            fmt="sqlite-agreements",
            checksum="d",
            lines=rows.num_rows,
            record_key=text_key([c for c in rows.column_names if not c.startswith("_")], name),
            label=f"db.sqlite#{name}",
        )
        for name, spec, rows in (
            ("products", cat.BRONZE_SME_PRODUCTS, products),
            ("meterpoints", cat.BRONZE_SME_METERPOINTS, meterpoints),
        )
    ]
    out = land(ctx, batches, now=NOW)
    assert [(o.source_file, o.landed) for o in out] == [
        ("db.sqlite#products", 1),
        ("db.sqlite#meterpoints", 2),
    ]
    manifest = ctx.lake.read(cat.OPS_MANIFEST).to_pylist()
    assert [(m["source_file"], m["rows"]) for m in manifest] == [("db.sqlite", 3)]
    rid = ctx.lake.read(cat.BRONZE_SME_PRODUCTS)["_record_id"][0].as_py()
    assert rid == hashlib.sha256(b"products|1|Flat|0").hexdigest()


def test_rows_may_carry_their_record_ids(ctx: Context) -> None:
    """An API body is identified by its own SHA-256, given in the row."""
    row = {
        "source": "x",
        "url": "http://x",
        "checksum": "abc",
        "body": "{}",
        "_row_number": 0,
        "_record_id": "abc",
    }
    b = Batch(
        spec=cat.BRONZE_API_RESPONSES,
        rows=pa.Table.from_pylist([row]),
        source="http://x",
        fmt="x",
        checksum="abc",
        lines=1,
        record_key=None,
        manifest=False,
    )
    assert [o.landed for o in land(ctx, [b], now=NOW)] == [1]
    assert [o.landed for o in land(ctx, [b], now=NOW)] == [0]  # same body: nothing new
    assert ctx.lake.read(cat.BRONZE_API_RESPONSES)["_record_id"].to_pylist() == ["abc"]
    assert ctx.lake.read(cat.OPS_MANIFEST).num_rows == 0
