"""The smart-meter-etl case: readings JSON + SQLite agreements → bronze/silver → the three
reports (seeds/smart-meter-etl.md). Parsers are tested on edge cases; the end-to-end tests
run the CLI on a tiny hand-written fixture whose report numbers are checked by hand."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conftest import with_ctx
from test_cli import wl, wl_nohome
from wattlake.config import Settings, load_settings
from wattlake.engine import Engine
from wattlake.errors import InputError
from wattlake.generate.smart_meter_etl import generate_smart_meter_etl
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.reports.run import compute_report, date_range
from wattlake.sources.smart_meter_etl import (
    parse_day,
    parse_readings_json,
    parse_sqlite_agreements,
    validate_agreements,
)

D = dt.date(2021, 1, 2)  # the reference date: meterpoint 1 switches product on it
D1 = dt.date(2021, 1, 1)

# -- SQLite fixtures --------------------------------------------------------------------------

MP_COLS = ("meterpoint_id", "region")
PROD_COLS = ("product_id", "display_name", "is_variable")
AGR_COLS = (
    "agreement_id",
    "meterpoint_id",
    "product_id",
    "agreement_valid_from",
    "agreement_valid_to",
)
METERPOINTS = [(1, "London"), (2, "Wales")]
PRODUCTS = [(10, "Fixed", 0), (20, "Agile", 1)]
GOOD_AGREEMENTS = [
    (100, 1, 10, "2020-06-01", "2021-01-02"),  # ends on D: not active on D
    (101, 1, 20, "2021-01-02", None),  # the switch: active from D on
    (200, 2, 10, "2020-01-01", None),
]


def sqlite_bytes(
    tmp: Path,
    meterpoints: list[tuple[Any, ...]] = METERPOINTS,
    products: list[tuple[Any, ...]] = PRODUCTS,
    agreements: list[tuple[Any, ...]] = GOOD_AGREEMENTS,
    *,
    columns: dict[str, tuple[str, ...]] | None = None,
    skip: str | None = None,
    name: str = "db.sqlite",
) -> Path:
    """Write a database with the three tables (`skip` leaves one out); returns its path."""
    cols = {"meterpoints": MP_COLS, "products": PROD_COLS, "agreements": AGR_COLS}
    cols.update(columns or {})
    data = {"meterpoints": meterpoints, "products": products, "agreements": agreements}
    path = tmp / name
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    for table, cs in cols.items():
        if table == skip:
            continue
        con.execute(f"CREATE TABLE {table} ({', '.join(cs)})")
        rows = [r[: len(cs)] for r in data[table]]
        if rows:
            con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(cs))})", rows)
    con.commit()
    con.close()
    return path


# -- readings JSON parser ---------------------------------------------------------------------

R = '{"meterpoint_id": 1, "interval_start": "2021-01-01T00:00:00Z", "consumption_delta": 0.25}'


@pytest.mark.parametrize(
    ("text", "rows", "dead_reasons"),
    [
        pytest.param(f"[{R}]", [("1", "2021-01-01T00:00:00Z", "0.25", "kWh")], [], id="array"),
        pytest.param(
            f"{R}\n{R}\n", [("1", "2021-01-01T00:00:00Z", "0.25", "kWh")] * 2, [], id="json_lines"
        ),
        pytest.param(
            f"\n{R}\n\n{R}\r\n",
            [("1", "2021-01-01T00:00:00Z", "0.25", "kWh")] * 2,
            [],
            id="blank_lines_and_crlf",
        ),
        pytest.param(
            f"\ufeff[{R}]", [("1", "2021-01-01T00:00:00Z", "0.25", "kWh")], [], id="utf8_bom"
        ),
        pytest.param(
            '[{"meterpoint_id": " MP-7 ", "interval_start": "t", "consumption_delta": 0.2500}]',
            [("MP-7", "t", "0.2500", "kWh")],
            [],
            id="string_id_trimmed_number_text_kept",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": "t", "consumption_delta": null}]',
            [("1", "t", None, "kWh")],
            [],
            id="null_value_kept_for_vee",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": "t", "consumption_delta": 250, '
            '"unit": "Wh", "extra": {"x": 1}}]',
            [("1", "t", "250", "Wh")],
            [],
            id="explicit_unit_extra_fields_ignored",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": "t"}]',
            [],
            ["missing field consumption_delta"],
            id="missing_field",
        ),
        pytest.param(
            '[{"meterpoint_id": 1}]',
            [],
            ["missing fields interval_start, consumption_delta"],
            id="missing_fields",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": "t", "consumption_delta": "0.2"}]',
            [],
            ["consumption_delta must be a number or null, got string"],
            id="value_as_string",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": "t", "consumption_delta": true}]',
            [],
            ["consumption_delta must be a number or null, got boolean"],
            id="value_as_boolean",
        ),
        pytest.param(
            '[{"meterpoint_id": 1.5, "interval_start": "t", "consumption_delta": 1}]',
            [],
            ["meterpoint_id must be a string or an integer, got number"],
            id="fractional_meterpoint_id",
        ),
        pytest.param(
            '[{"meterpoint_id": "", "interval_start": "t", "consumption_delta": 1}]',
            [],
            ["empty meterpoint_id"],
            id="empty_meterpoint_id",
        ),
        pytest.param(
            '[{"meterpoint_id": 1, "interval_start": 1609459200, "consumption_delta": 1}]',
            [],
            ["interval_start must be a string, got number"],
            id="epoch_timestamp",
        ),
        pytest.param(
            '[1, "x", [1]]',
            [],
            [
                "record is a JSON number, not an object",
                "record is a JSON string, not an object",
                "record is a JSON array, not an object",
            ],
            id="records_not_objects",
        ),
        pytest.param(
            f'{R}\n{{"meterpoint_id": 1, "interval_st\n{R}\n',
            [("1", "2021-01-01T00:00:00Z", "0.25", "kWh")] * 2,
            ["invalid JSON at column 22: Unterminated string starting at"],
            id="bad_json_line",
        ),
        pytest.param("[]", [], [], id="empty_array"),
    ],
)
def test_parse_readings_json(
    text: str, rows: list[tuple[str | None, ...]], dead_reasons: list[str]
) -> None:
    pf = parse_readings_json(text.encode(), "r.json")
    got = list(
        zip(
            *(pf.rows[c].to_pylist() for c in ("meter_id", "timestamp", "value", "unit")),
            strict=True,
        )
    )
    assert got == rows
    assert pf.dead["reason"].to_pylist() == dead_reasons
    assert pf.rows.num_rows + pf.dead.num_rows == pf.lines  # every record accounted for


def test_parse_readings_json_record_numbers_and_raw_text() -> None:
    text = f'{R}\n{{"meterpoint_id": 2}}\nnot json\n{R}\n'
    pf = parse_readings_json(text.encode(), "r.jsonl")
    assert pf.rows["_row_number"].to_pylist() == [1, 4]
    assert pf.dead.to_pylist() == [
        {
            "line_number": 2,
            "raw_text": '{"meterpoint_id": 2}',
            "reason": "missing fields interval_start, consumption_delta",
        },
        {
            "line_number": 3,
            "raw_text": "not json",
            "reason": "invalid JSON at column 1: Expecting value",
        },
    ]
    arr = parse_readings_json(f'[{R}, {{"meterpoint_id": 2.50}}]'.encode(), "r.json")
    assert arr.dead.to_pylist()[0]["line_number"] == 2  # position in the array
    assert arr.dead.to_pylist()[0]["raw_text"] == '{"meterpoint_id": 2.50}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"meter_id,timestamp,value\nM1,t,1\n", "not JSON", id="csv_file"),
        pytest.param(b'[{"meterpoint_id": 1,', "not a valid JSON array", id="broken_array"),
        pytest.param(b"{nope\n{also nope\n", "not JSON", id="no_line_parses"),
        pytest.param(b"\xff\xfe[1]", "not UTF-8", id="not_utf8"),
    ],
)
def test_parse_readings_json_rejects_files(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_readings_json(data, "r.json")


# -- SQLite parser and validation -------------------------------------------------------------


def test_parse_sqlite_keeps_raw_text(tmp_path: Path) -> None:
    snap = parse_sqlite_agreements(sqlite_bytes(tmp_path).read_bytes(), "db")
    assert snap.records == 7
    assert snap.tables["agreements"].to_pylist()[0] == {
        "agreement_id": "100",
        "meterpoint_id": "1",
        "product_id": "10",
        "agreement_valid_from": "2020-06-01",
        "agreement_valid_to": "2021-01-02",
        "_rowid": 1,
        "_row_number": 5,  # meterpoints 1-2, products 3-4, agreements 5-7
    }
    assert snap.tables["agreements"]["agreement_valid_to"].to_pylist()[1] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"skip": "products"}, "table 'products' is missing", id="missing_table"),
        pytest.param(
            {"columns": {"agreements": AGR_COLS[:4]}},
            "table 'agreements' is missing column\\(s\\) agreement_valid_to",
            id="missing_column",
        ),
    ],
)
def test_parse_sqlite_layout_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    data = sqlite_bytes(tmp_path, **kwargs).read_bytes()
    with pytest.raises(InputError, match=message):
        parse_sqlite_agreements(data, "db")


def test_parse_sqlite_rejects_other_files() -> None:
    with pytest.raises(InputError, match="not a SQLite database"):
        parse_sqlite_agreements(b"[]", "db")
    with pytest.raises(InputError, match="unreadable SQLite database"):
        parse_sqlite_agreements(b"SQLite format 3\x00" + b"\x00" * 84, "db")


@pytest.mark.parametrize(
    ("meterpoints", "products", "agreements", "reason"),
    [
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "2021-02-01", "2021-01-01")],
            "agreement ends (2021-01-01) before it starts (2021-02-01)",
            id="ends_before_start",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 9, 10, "2021-01-01", None)],
            "unknown meterpoint_id '9'",
            id="unknown_meterpoint",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 99, "2021-01-01", None)],
            "unknown product_id '99'",
            id="unknown_product",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "2021-01-01", None), (1, 2, 10, "2021-01-01", None)],
            "duplicate agreement_id '1' (first at record 5)",
            id="duplicate_agreement",
        ),
        pytest.param(
            [*METERPOINTS, (1, "Elsewhere")],
            PRODUCTS,
            [],
            "duplicate meterpoint_id '1' (first at record 1)",
            id="duplicate_meterpoint",
        ),
        pytest.param(
            METERPOINTS,
            [*PRODUCTS, (10, "Again", 0)],
            [],
            "duplicate product_id '10' (first at record 3)",
            id="duplicate_product",
        ),
        pytest.param(
            METERPOINTS,
            [(10, "Fixed", "maybe")],
            [],
            "is_variable 'maybe' is not a boolean (1/0, true/false)",
            id="bad_flag",
        ),
        pytest.param([(None, "x")], [], [], "empty meterpoint_id", id="null_id"),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "01/02/2021", None)],
            "agreement_valid_from '01/02/2021' is not a date",
            id="bad_from",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "2021-01-01", "soon")],
            "agreement_valid_to 'soon' is not a date",
            id="bad_to",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "2021-01-01", None), (2, 1, 20, "2021-03-01", None)],
            "overlaps agreement '1' of meterpoint '1' (valid to open-ended)",
            id="overlap_open_ended",
        ),
        pytest.param(
            METERPOINTS,
            PRODUCTS,
            [(1, 1, 10, "2021-01-01", "2021-02-01"), (2, 1, 20, "2021-01-31", None)],
            "overlaps agreement '1' of meterpoint '1' (valid to 2021-02-01)",
            id="overlap_one_day",
        ),
    ],
)
def test_validate_rejects(
    tmp_path: Path,
    meterpoints: list[tuple[Any, ...]],
    products: list[tuple[Any, ...]],
    agreements: list[tuple[Any, ...]],
    reason: str,
) -> None:
    path = sqlite_bytes(tmp_path, meterpoints, products, agreements)
    snap = parse_sqlite_agreements(path.read_bytes(), "db")
    v = validate_agreements(snap)
    assert v.dead["reason"].to_pylist() == [reason]
    kept = v.meterpoints.num_rows + v.products.num_rows + v.agreements.num_rows
    assert kept + v.dead.num_rows == snap.records
    assert v.dead["raw_text"][0].as_py().split(" rowid ")[0] in snap.tables


@pytest.mark.parametrize(
    "agreements",
    [
        pytest.param(
            [(1, 1, 10, "2021-01-01", "2021-02-01"), (2, 1, 20, "2021-02-01", None)],
            id="switch_same_day",
        ),
        pytest.param([(1, 1, 10, "2021-01-01", "2021-01-01")], id="zero_length"),
        pytest.param([(1, 1, 10, "2021-01-01 00:00:00", "")], id="midnight_time_empty_to"),
        pytest.param([(1, " 1 ", "10", "2021-01-01T00:00:00Z", None)], id="text_ids_trimmed"),
    ],
)
def test_validate_accepts(tmp_path: Path, agreements: list[tuple[Any, ...]]) -> None:
    snap = parse_sqlite_agreements(sqlite_bytes(tmp_path, agreements=agreements).read_bytes(), "db")
    v = validate_agreements(snap)
    assert v.dead.num_rows == 0
    assert v.agreements.num_rows == len(agreements)
    assert set(v.agreements["meterpoint_id"].to_pylist()) == {"1"}


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2021-01-02", D),
        ("2021-01-02T00:00:00", D),
        ("2021-01-02 00:00:00.000", D),
        ("2021-01-02T00:00:00+00:00", D),
        ("2021-01-02T12:00:00", None),
        ("2021-02-30", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_day(text: str | None, day: dt.date | None) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    ("ref", "frm", "to", "result"),
    [
        pytest.param("2021-01-02", None, None, (D, D), id="reference_date"),
        pytest.param(None, "2021-01-01", "2021-01-02", (D1, D), id="range"),
        pytest.param(None, "2021-01-02", None, (D, D), id="from_only"),
        pytest.param(None, None, None, "give --reference-date", id="nothing"),
        pytest.param("2021-02-30", None, None, "is not a date", id="bad_date"),
        pytest.param("2021-01-02", "2021-01-01", None, "not both", id="both"),
        pytest.param(None, "2021-01-02", "2021-01-01", "before --from", id="reversed"),
    ],
)
def test_date_range(
    ref: str | None, frm: str | None, to: str | None, result: tuple[dt.date, dt.date] | str
) -> None:
    if isinstance(result, str):
        with pytest.raises(InputError, match=result):
            date_range(ref, frm, to)
    else:
        assert date_range(ref, frm, to) == result


# -- end to end on a tiny hand-written fixture ------------------------------------------------

# Day D-1 (JSON array): both meterpoints, two half hours; plus three bad records.
DAY1 = [
    {"meterpoint_id": 1, "interval_start": "2021-01-01T00:00:00Z", "consumption_delta": 0.5},
    {"meterpoint_id": 1, "interval_start": "2021-01-01T00:30:00Z", "consumption_delta": 0.6},
    {"meterpoint_id": 2, "interval_start": "2021-01-01T00:00:00Z", "consumption_delta": 0.2},
    {"meterpoint_id": 2, "interval_start": "2021-01-01T00:30:00Z", "consumption_delta": 0.3},
    {"meterpoint_id": 2, "interval_start": "2021-01-01T01:00:00Z"},  # missing value field
    {"meterpoint_id": 2, "interval_start": "2021-01-01T01:00:00Z", "consumption_delta": "0.4"},
    "not an object",
]
# Day D (JSON lines): meterpoint 1 misses 00:30 (interpolated: (0.4 + 0.8) / 2 = 0.6);
# meterpoint 999 is not in the database; one line is broken JSON.
DAY2 = [
    '{"meterpoint_id": 1, "interval_start": "2021-01-02T00:00:00Z", "consumption_delta": 0.4}',
    '{"meterpoint_id": 1, "interval_start": "2021-01-02T01:00:00+00:00", "consumption_delta": 0.8}',
    '{"meterpoint_id": "2", "interval_start": "2021-01-02T00:00:00Z", "consumption_delta": 0.25}',
    '{"meterpoint_id": 2, "interval_start": "2021-01-02T00:30:00Z", "consumption_delta": 0.35}',
    '{"meterpoint_id": 2, "interval_start": "2021-01-02T01:00:00Z", "consumption_delta": 0.45}',
    '{"meterpoint_id": 999, "interval_start": "2021-01-02T00:00:00Z", "consumption_delta": 1.0}',
    '{"meterpoint_id": 2, "interval_start": "2021-01-02T01:30:00Z", "consumption_delt',
]
BAD_AGREEMENTS = [
    (300, 3, 10, "2020-01-01", None),  # unknown meterpoint
    (201, 2, 20, "2020-06-01", "2020-05-01"),  # ends before it starts
    (202, 2, 20, "2020-12-01", None),  # overlaps 200
    (100, 2, 20, "2019-01-01", "2019-02-01"),  # duplicate id
]


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("sme_in")
    day1 = d / "readings" / "2021-01-01.json"
    day2 = d / "readings" / "2021-01-02.jsonl"
    day1.parent.mkdir()
    day1.write_text(json.dumps(DAY1, indent=1))
    day2.write_text("\n".join(DAY2) + "\n")
    db = sqlite_bytes(
        d,
        products=[*PRODUCTS, (30, "Broken", "maybe")],
        agreements=GOOD_AGREEMENTS + BAD_AGREEMENTS,
        name="agreements.db",
    )
    return {"day1": day1, "day2": day2, "db": db, "dir": d}


@pytest.fixture(scope="module")
def loaded(fixture_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with the fixture ingested through the CLI and `wattlake run` done."""
    home = tmp_path_factory.mktemp("sme_home")
    f = fixture_files
    r = wl("ingest", str(f["db"]), "--format", "sqlite-agreements", home=home)
    assert r.returncode == 0, r.stderr
    r = wl("ingest", str(f["day1"]), str(f["day2"]), "--format", "readings-json", home=home)
    assert r.returncode == 0, r.stderr
    r = wl("run", home=home)
    assert r.returncode == 0, r.stderr
    return home


def _sql(home: Path, query: str) -> list[dict[str, Any]]:
    r = wl("sql", query, "--format", "json", home=home)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_bronze_keeps_raw_text_with_lineage(loaded: Path) -> None:
    rows = _sql(
        loaded,
        "SELECT meter_id, timestamp, value, unit, _format, _row_number FROM "
        "bronze.meter_readings WHERE _source_file LIKE '%2021-01-02.jsonl' ORDER BY _row_number",
    )
    assert rows[1] == {
        "meter_id": "1",
        "timestamp": "2021-01-02T01:00:00+00:00",
        "value": "0.8",
        "unit": "kWh",
        "_format": "readings-json",
        "_row_number": 2,
    }
    agr = _sql(loaded, "SELECT * FROM bronze.sme_agreements ORDER BY _row_number")
    assert len(agr) == 7  # every row, the bad ones too, as text
    assert agr[0]["agreement_valid_to"] == "2021-01-02" and agr[1]["agreement_valid_to"] is None
    assert all(a["_batch_id"] and a["_record_id"] and a["_source_file"] for a in agr)


def test_every_record_accounted_for(loaded: Path, fixture_files: dict[str, Path]) -> None:
    for key, records in (("day1", len(DAY1)), ("day2", len(DAY2))):
        name = str(fixture_files[key])
        bronze = _sql(
            loaded, f"SELECT count(*) AS n FROM bronze.meter_readings WHERE _source_file = '{name}'"
        )[0]["n"]
        dead = _sql(
            loaded, f"SELECT count(*) AS n FROM ops.dead_letter WHERE source_file = '{name}'"
        )[0]["n"]
        assert bronze + dead == records, key
    db = str(fixture_files["db"])
    records = len(METERPOINTS) + len(PRODUCTS) + 1 + len(GOOD_AGREEMENTS) + len(BAD_AGREEMENTS)
    counts = _sql(
        loaded,
        "SELECT (SELECT count(*) FROM silver.meterpoints) + (SELECT count(*) FROM "
        "silver.products) + (SELECT count(*) FROM silver.agreements) AS silver, "
        f"(SELECT count(*) FROM ops.dead_letter WHERE source_file = '{db}') AS dead, "
        "(SELECT count(*) FROM bronze.sme_meterpoints) + (SELECT count(*) FROM "
        "bronze.sme_products) + (SELECT count(*) FROM bronze.sme_agreements) AS bronze",
    )[0]
    assert counts["silver"] + counts["dead"] == records == counts["bronze"]


def test_dead_letters_name_record_and_reason(loaded: Path, fixture_files: dict[str, Path]) -> None:
    rows = _sql(
        loaded,
        "SELECT source_file, line_number, raw_text, reason FROM ops.dead_letter "
        "ORDER BY source_file, line_number",
    )
    got = sorted((Path(r["source_file"]).name, r["line_number"], r["reason"]) for r in rows)
    assert got == [
        ("2021-01-01.json", 5, "missing field consumption_delta"),
        ("2021-01-01.json", 6, "consumption_delta must be a number or null, got string"),
        ("2021-01-01.json", 7, "record is a JSON string, not an object"),
        ("2021-01-02.jsonl", 7, "invalid JSON at column 64: Unterminated string starting at"),
        ("agreements.db", 5, "is_variable 'maybe' is not a boolean (1/0, true/false)"),
        ("agreements.db", 9, "unknown meterpoint_id '3'"),
        ("agreements.db", 10, "agreement ends (2020-05-01) before it starts (2020-06-01)"),
        ("agreements.db", 11, "overlaps agreement '200' of meterpoint '2' (valid to open-ended)"),
        ("agreements.db", 12, "duplicate agreement_id '100' (first at record 6)"),
    ]
    raw = {(Path(r["source_file"]).name, r["line_number"]): r["raw_text"] for r in rows}
    assert raw["agreements.db", 12].startswith('agreements rowid 7: {"agreement_id": "100"')
    assert raw["2021-01-02.jsonl", 7] == DAY2[-1]
    assert raw["2021-01-01.json", 7] == '"not an object"'
    assert all(
        r["source_file"] == str(fixture_files["db"]) for r in rows if "rowid" in r["raw_text"]
    )


def test_silver_typed(loaded: Path) -> None:
    agr = _sql(loaded, "SELECT * FROM silver.agreements ORDER BY agreement_id")
    assert [
        (a["agreement_id"], a["agreement_valid_from"], a["agreement_valid_to"]) for a in agr
    ] == [
        ("100", "2020-06-01", "2021-01-02"),
        ("101", "2021-01-02", None),
        ("200", "2020-01-01", None),
    ]
    prods = _sql(loaded, "SELECT product_id, is_variable FROM silver.products ORDER BY 1")
    assert prods == [
        {"product_id": "10", "is_variable": False},
        {"product_id": "20", "is_variable": True},
    ]


def test_report_active_agreements(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "active.csv"
    r = wl(
        "report", "active-agreements", "--reference-date", str(D), "--out", str(out), home=loaded
    )
    assert r.returncode == 0, r.stderr
    assert "101" in r.stdout and "Agile" in r.stdout
    rows = _csv(out)
    got = [
        (
            x["agreement_id"],
            x["meterpoint_id"],
            x["region"],
            x["display_name"],
            x["is_variable"],
            x["agreement_valid_to"],
        )
        for x in rows
    ]
    assert got == [
        ("101", "1", "London", "Agile", "True", ""),
        ("200", "2", "Wales", "Fixed", "False", ""),
    ]
    r = wl(
        "report", "active-agreements", "--reference-date", str(D1), "--out", str(out), home=loaded
    )
    assert [x["agreement_id"] for x in _csv(out)] == ["100", "200"]  # before the switch


def test_report_half_hourly(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "hh.csv"
    r = wl("report", "half-hourly", "--reference-date", str(D), "--out", str(out), home=loaded)
    assert r.returncode == 0, r.stderr
    got = [
        (
            x["interval_start"],
            x["meterpoint_count"],
            x["reading_count"],
            x["estimated_count"],
            x["total_consumption_kwh"],
        )
        for x in _csv(out)
    ]
    assert got == [
        ("2021-01-02T00:00:00+00:00", "2", "2", "0", "0.65"),  # 0.4 + 0.25
        ("2021-01-02T00:30:00+00:00", "2", "2", "1", "0.95"),  # 0.6 (estimated) + 0.35
        ("2021-01-02T01:00:00+00:00", "2", "2", "0", "1.25"),  # 0.8 + 0.45
    ]
    r = wl(
        "report",
        "half-hourly",
        "--reference-date",
        str(D),
        "--all-meters",
        "--out",
        str(out),
        home=loaded,
    )
    first = _csv(out)[0]
    assert (first["meterpoint_count"], first["total_consumption_kwh"]) == ("3", "1.65")


def test_report_daily_product(loaded: Path, tmp_path: Path) -> None:
    out = tmp_path / "daily.csv"
    r = wl(
        "report", "daily-product", "--from", str(D1), "--to", str(D), "--out", str(out), home=loaded
    )
    assert r.returncode == 0, r.stderr
    got = [
        (
            x["reference_date"],
            x["display_name"],
            x["meterpoint_count"],
            x["reading_count"],
            x["estimated_count"],
            x["total_consumption_kwh"],
        )
        for x in _csv(out)
    ]
    assert got == [
        ("2021-01-01", "Fixed", "2", "4", "0", "1.6"),  # 0.5 + 0.6 + 0.2 + 0.3 (agreement 100)
        ("2021-01-02", "Agile", "1", "3", "1", "1.8"),  # meterpoint 1 after the switch
        ("2021-01-02", "Fixed", "1", "3", "0", "1.05"),  # meterpoint 2: 0.25 + 0.35 + 0.45
    ]
    r = wl(
        "report",
        "daily-product",
        "--reference-date",
        str(D),
        "--all-meters",
        "--out",
        str(out),
        home=loaded,
    )
    last = _csv(out)[-1]
    assert (last["product_id"], last["display_name"], last["total_consumption_kwh"]) == (
        "",
        "(no active agreement)",
        "1.0",
    )


def test_reports_stored_in_gold_idempotently(loaded: Path) -> None:
    for _ in range(2):
        r = wl("report", "daily-product", "--reference-date", str(D), home=loaded)
        assert r.returncode == 0, r.stderr
    rows = _sql(
        loaded,
        "SELECT reference_date, scope, count(*) AS n, count(DISTINCT _run_id) AS runs "
        f"FROM gold.report_daily_product WHERE reference_date = '{D}' GROUP BY ALL ORDER BY 2",
    )
    assert {(r["scope"], r["n"], r["runs"]) for r in rows} >= {("meterpoints", 2, 1)}
    act = _sql(
        loaded,
        "SELECT reference_date, count(*) AS n FROM gold.report_active_agreements "
        "GROUP BY 1 ORDER BY 1",
    )
    assert [(a["reference_date"], a["n"]) for a in act] == [(str(D1), 2), (str(D), 2)]


def test_reingest_changes_nothing(loaded: Path, fixture_files: dict[str, Path]) -> None:
    query = (
        "SELECT (SELECT count(*) FROM bronze.meter_readings) AS b, "
        "(SELECT count(*) FROM bronze.sme_agreements) AS a, "
        "(SELECT count(*) FROM silver.agreements) AS s, "
        "(SELECT count(*) FROM ops.dead_letter) AS d, (SELECT count(*) FROM ops.manifest) AS m"
    )
    before = _sql(loaded, query)
    f = fixture_files
    r = wl("ingest", str(f["db"]), str(f["day1"]), home=loaded)  # a database goes alone
    assert r.returncode == 1 and "ingest it without other files" in r.stderr
    for args in (
        [str(f["db"])],  # detected as SQLite
        [str(f["day1"]), str(f["day2"]), "--format", "readings-json"],
        [str(f["day1"].parent)],  # detected as JSON
    ):
        r = wl("ingest", *args, home=loaded)
        assert r.returncode == 0, r.stderr
        assert "skipped" in r.stdout and "ingested" not in r.stdout
    assert _sql(loaded, query) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["report", "half-hourly", "--reference-date", "2021-13-01"],
            "--reference-date '2021-13-01' is not a date",
            id="bad_date",
        ),
        pytest.param(["report", "daily-product"], "give --reference-date", id="no_date"),
        pytest.param(
            ["report", "active-agreements", "--reference-date", "x"],
            "is not a date",
            id="bad_date_active",
        ),
        pytest.param(
            ["report", "half-hourly", "--reference-date", "2021-01-01", "--engine", "presto"],
            "unknown engine",
            id="bad_engine",
        ),
        pytest.param(
            ["ingest", "{in}/not.json", "--format", "readings-json"], "not JSON", id="not_json"
        ),
        pytest.param(
            ["ingest", "{in}/not.json", "--format", "sqlite-agreements"],
            "not a SQLite database",
            id="not_sqlite",
        ),
        pytest.param(
            ["ingest", "{in}/nodb.sqlite"], "table 'agreements' is missing", id="missing_table"
        ),
        pytest.param(
            ["ingest", "{in}/not.json", "--format", "parquet"],
            "unknown format 'parquet'",
            id="unknown_format",
        ),
    ],
)
def test_cli_errors(tmp_path: Path, args: list[str], message: str) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "not.json").write_text("meter_id,timestamp\nM1,2021\n")
    sqlite_bytes(d, skip="agreements", name="nodb.sqlite")
    home = tmp_path / "home"
    r = wl(*[a.replace("{in}", str(d)) for a in args], home=home)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (home / "lake" / "bronze").exists()  # nothing written


def test_report_without_agreements_is_an_error(tmp_path: Path) -> None:
    r = wl("report", "active-agreements", "--reference-date", "2021-01-01", home=tmp_path)
    assert r.returncode == 1 and "no meterpoints/agreements loaded" in r.stderr


def test_new_snapshot_updates_silver(tmp_path: Path, settings: Settings) -> None:
    """A later database replaces the ids it contains; unchanged rows are bronze duplicates."""
    with_ctx(settings, ingest_files, [sqlite_bytes(tmp_path)], "sqlite-agreements")
    changed = [*GOOD_AGREEMENTS[:2], (200, 2, 10, "2020-01-01", "2021-03-01")]
    summary = with_ctx(
        settings, ingest_files, [sqlite_bytes(tmp_path, agreements=changed, name="v2.sqlite")], None
    )
    by_table = {Path(f.source_file).name.split("#")[1]: f for f in summary.files}
    assert (by_table["agreements"].landed, by_table["agreements"].duplicates) == (1, 2)
    assert (by_table["meterpoints"].landed, by_table["meterpoints"].duplicates) == (0, 2)
    lake = Lake(settings.home)
    agr = lake.read(cat.SILVER_AGREEMENTS).sort_by("agreement_id").to_pylist()
    assert [a["agreement_valid_to"] for a in agr] == [D, None, dt.date(2021, 3, 1)]
    assert lake.read(cat.BRONZE_SME_AGREEMENTS).num_rows == 4


# -- the generator ----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_generated_sample_round_trip(tmp_path: Path, layout: str) -> None:
    s = generate_smart_meter_etl(tmp_path / "g", 4, 2, D1, 7, layout=layout)  # type: ignore[arg-type]
    again = generate_smart_meter_etl(tmp_path / "g2", 4, 2, D1, 7, layout=layout)  # type: ignore[arg-type]
    assert [p.read_bytes() for p in s.readings_files] == [
        p.read_bytes() for p in again.readings_files
    ]
    settings = load_settings(home=tmp_path / "home")
    with_ctx(settings, ingest_files, [s.database])
    summary = with_ctx(settings, ingest_files, s.readings_files)
    assert summary.landed + summary.dead_letters == s.readings
    assert summary.dead_letters == s.bad_readings >= 3
    lake = Lake(settings.home)
    assert lake.read(cat.OPS_DEAD_LETTER).num_rows == s.bad_readings + s.bad_agreement_rows
    assert lake.read(cat.SILVER_METERPOINTS).num_rows == 4
    assert lake.read(cat.SILVER_AGREEMENTS).num_rows == s.agreements - 2  # 2 bad agreements


def test_generate_cli(tmp_path: Path) -> None:
    out = tmp_path / "g"
    r = wl_nohome(
        "generate",
        "--layout",
        "smart-meter-etl",
        "--households",
        "3",
        "--days",
        "2",
        "--start",
        "2021-01-01",
        "--faults",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert (out / "agreements.db").exists()
    assert sorted(p.name for p in (out / "readings").iterdir()) == [
        "readings_2021-01-01.json",
        "readings_2021-01-02.json",
    ]
    r = wl_nohome("generate", "--layout", "nope", "--out", str(out))
    assert r.returncode == 1 and "unknown layout 'nope'" in r.stderr


# -- Spark parity ------------------------------------------------------------------------------


@pytest.mark.spark
def test_reports_same_on_spark(loaded: Path, duck: Engine, spark: Engine) -> None:
    lake = Lake(loaded)
    for name, start in (("active-agreements", D), ("half-hourly", D), ("daily-product", D1)):
        a = compute_report(duck, lake, name, start, D if name != "active-agreements" else start)
        b = compute_report(spark, lake, name, start, D if name != "active-agreements" else start)
        assert b.schema == a.schema, name
        assert _rows(b) == _rows(a), name


def _rows(t: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(r.values()) for r in t.to_pylist()),
        key=lambda r: tuple("" if v is None else str(v) for v in r),
    )
