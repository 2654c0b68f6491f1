"""Ingestion: parsing, dead letters, lineage, idempotency, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import with_ctx, write
from wattlake.config import Settings
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.sources.files import detect_format, parse_lines

LCL = "LCLid,tstp,energy(kWh/hh)\n"
CSV = "meter_id,timestamp,value,unit\n"


@pytest.mark.parametrize(
    ("text", "fmt", "rows", "dead_reasons"),
    [
        pytest.param(LCL + "M1,2012-10-12 00:30:00.0000000,0.2\n", "lcl", 1, [], id="lcl_row"),
        pytest.param(
            LCL + "M1,2012-10-12 00:30:00.0000000, Null \n",
            "lcl",
            1,
            [],
            id="lcl_null_kept_for_silver",
        ),
        pytest.param(LCL + "M1,x\n", "lcl", 0, ["expected 3 fields, got 2"], id="too_few_fields"),
        pytest.param(
            LCL + "M1,a,b,c\n", "lcl", 0, ["expected 3 fields, got 4"], id="too_many_fields"
        ),
        pytest.param(
            LCL + ",2012-10-12 00:30:00.0000000,1\n",
            "lcl",
            0,
            ["empty meter_id"],
            id="empty_meter_id",
        ),
        pytest.param(LCL + "M1,t,1\n\nM1,t2,1\n", "lcl", 2, ["empty line"], id="blank_line"),
        pytest.param(LCL + "M1,t,1\r\nM1,t2,2\r\n", "lcl", 2, [], id="crlf_line_endings"),
        pytest.param(LCL + '"M,1","t","1"\n', "lcl", 1, [], id="quoted_field_with_comma"),
        pytest.param(
            LCL + '"M1,t,1\n', "lcl", 0, ["expected 3 fields, got 1"], id="unbalanced_quote"
        ),
        pytest.param(
            CSV + "M1,2024-01-01T00:00:00Z,5,\n", "meter-csv", 1, [], id="empty_unit_is_null"
        ),
        pytest.param(
            CSV + "M1,2024-01-01T00:00:00Z,5\n",
            "meter-csv",
            0,
            ["expected 4 fields, got 3"],
            id="missing_unit_column",
        ),
    ],
)
def test_parse_lines(text: str, fmt: str, rows: int, dead_reasons: list[str]) -> None:
    pf = parse_lines(text.encode(), fmt, "x.csv")
    assert pf.rows.num_rows == rows
    assert pf.dead["reason"].to_pylist() == dead_reasons
    assert pf.rows.num_rows + pf.dead.num_rows == pf.lines


def test_parse_keeps_line_numbers_and_invalid_utf8() -> None:
    data = LCL.encode() + b"M1,t,1\n\xff\xfe,t,1\nM2,t,2\n"
    pf = parse_lines(data, "lcl", "x.csv")
    assert pf.rows["_row_number"].to_pylist() == [2, 4]
    assert pf.dead.to_pylist()[0]["line_number"] == 3
    assert pf.dead.to_pylist()[0]["reason"] == "not valid UTF-8"


def test_empty_unit_becomes_null() -> None:
    pf = parse_lines((CSV + "M1,2024-01-01T00:00:00Z,5,\n").encode(), "meter-csv", "x")
    assert pf.rows["unit"].to_pylist() == [None]


@pytest.mark.parametrize(
    ("header", "fmt"),
    [
        pytest.param("LCLid,tstp,energy(kWh/hh)", "lcl", id="lcl"),
        pytest.param(" lclid , TSTP ,energy(kwh/hh)", "lcl", id="lcl_case_spaces"),
        pytest.param("meter_id,timestamp,value,unit", "meter-csv", id="meter_csv"),
        pytest.param("\ufeffmeter_id,timestamp,value,unit", "meter-csv", id="utf8_bom"),
        pytest.param("a,b,c", None, id="unknown"),
    ],
)
def test_detect_format(header: str, fmt: str | None) -> None:
    assert detect_format((header + "\n").encode()) == fmt


def _counts(lake: Lake) -> dict[str, int]:
    return {
        s.qualified: lake.read(s).num_rows
        for s in (cat.BRONZE_READINGS, cat.OPS_DEAD_LETTER, cat.OPS_MANIFEST)
    }


def test_ingest_lineage_dead_letters_and_idempotency(settings: Settings, tmp_path: Path) -> None:
    f = write(
        tmp_path / "a.csv",
        LCL
        + "M1,2012-10-12 00:30:00.0000000,0.2\n"
        + "M1,2012-10-12 00:30:00.0000000,0.2\n"  # exact re-send: one bronze row
        + "garbage\n"
        + "M2,2012-10-12 00:30:00.0000000,Null\n",
    )
    s1 = with_ctx(settings, ingest_files, [f])
    lake = Lake(settings.home)
    bronze = lake.read(cat.BRONZE_READINGS).to_pylist()
    assert [r["_row_number"] for r in bronze] == [2, 5]
    assert {r["_source_file"] for r in bronze} == {str(f)}
    assert all(len(r["_record_id"]) == 64 for r in bronze)
    assert s1.files[0].duplicates == 1 and s1.files[0].dead_letters == 1
    dead = lake.read(cat.OPS_DEAD_LETTER).to_pylist()
    assert dead[0]["line_number"] == 4 and dead[0]["raw_text"] == "garbage"
    # lines = landed + duplicates + dead letters
    assert s1.files[0].lines == s1.landed + s1.duplicates + s1.dead_letters
    part = list((lake.path(cat.BRONZE_READINGS)).glob("ingest_date=*"))
    assert len(part) == 1

    before = _counts(lake)
    s2 = with_ctx(settings, ingest_files, [f])
    assert s2.files[0].status == "skipped"
    assert _counts(lake) == before
    # Same rows in a renamed, gzipped copy: new file, but no new bronze rows.
    g = tmp_path / "copy.csv.gz"
    g.write_bytes(gzip.compress(f.read_bytes() + b"M3,2012-10-12 00:30:00.0000000,1\n"))
    s3 = with_ctx(settings, ingest_files, [g])
    assert s3.landed == 1 and s3.duplicates == 3
    runs = lake.read(cat.OPS_RUNS).to_pylist()
    assert {r["status"] for r in runs} == {"success", "skipped"}
    assert all(r["checksum"] for r in runs)


def _bad_gzip(d: Path) -> Path:
    p = d / "bad.csv.gz"
    p.write_bytes(b"\x1f\x8b\x08\x00garbage")
    return p


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda d: d / "missing.csv", "no such file", id="missing_file"),
        pytest.param(lambda d: write(d / "e.csv", ""), "file is empty", id="empty_file"),
        pytest.param(lambda d: write(d / "e.csv", "\n \n"), "file is empty", id="blank_file"),
        pytest.param(
            lambda d: write(d / "w.csv", "a,b\n1,2\n"), "unknown layout", id="unknown_layout"
        ),
        pytest.param(_bad_gzip, "unreadable gzip", id="bad_gzip"),
        pytest.param(
            lambda d: (d / "empty_dir").mkdir() or d / "empty_dir",
            "has no files",
            id="empty_directory",
        ),
    ],
)
def test_bad_input_changes_nothing(settings: Settings, tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path / "in" / "good.csv", LCL + "M1,2012-10-12 00:30:00.0000000,0.2\n")
    with_ctx(settings, ingest_files, [good])
    lake = Lake(settings.home)
    before = _counts(lake)
    bad = make(tmp_path / "in")
    other = write(tmp_path / "in2" / "new.csv", LCL + "M9,2012-10-12 00:30:00.0000000,0.2\n")
    with pytest.raises(InputError, match=message):
        with_ctx(settings, ingest_files, [other, bad])
    assert _counts(lake) == before


def test_mixed_directory_rejected_with_format(settings: Settings, tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    write(d / "a.csv", LCL + "M1,2012-10-12 00:30:00.0000000,0.2\n")
    write(d / "b.csv", CSV + "M1,2024-01-01T00:00:00Z,5,kW\n")
    with pytest.raises(InputError, match="not the lcl layout"):
        with_ctx(settings, ingest_files, [d], "lcl")
    assert not Lake(settings.home).exists(cat.BRONZE_READINGS)
    # Without --format each file's layout is detected and both land.
    summary = with_ctx(settings, ingest_files, [d])
    assert summary.landed == 2


def test_bronze_rows_land_sorted_by_meter(settings: Settings, tmp_path: Path) -> None:
    """One ingest of several files lands its rows by meter id (bronze's `cluster_by`), a
    meter's rows in file and line order, so the VEE's meter chunks skip row groups."""

    def lines(rows: list[tuple[str, str]]) -> str:
        return CSV + "".join(f"{m},2024-01-01T{t}:00Z,1,kWh\n" for m, t in rows)

    a = write(
        tmp_path / "a.csv",
        lines([("M2", "00:30"), ("M1", "00:30"), ("M2", "01:00"), ("M3", "00:30")]),
    )
    b = write(tmp_path / "b.csv", lines([("M1", "01:00"), ("M0", "00:30")]))
    with_ctx(settings, ingest_files, [a, b])
    (path,) = Lake(settings.home).path(cat.BRONZE_READINGS).rglob("*.parquet")
    got = pq.read_table(path, columns=["meter_id", "timestamp", "_source_file"]).to_pylist()
    assert [(r["meter_id"], r["timestamp"][11:16], Path(r["_source_file"]).name) for r in got] == [
        ("M0", "00:30", "b.csv"),
        ("M1", "00:30", "a.csv"),
        ("M1", "01:00", "b.csv"),
        ("M2", "00:30", "a.csv"),
        ("M2", "01:00", "a.csv"),
        ("M3", "00:30", "a.csv"),
    ]
