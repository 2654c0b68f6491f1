"""The real LCL household list → user profiles → `dw.dim_users`, through the CLI."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from conftest import realdata, write
from test_cli import wl
from wattlake.errors import InputError
from wattlake.lake.catalog import USER_PROFILE_COLUMNS
from wattlake.pipeline import formats
from wattlake.sources.files import detect_format, parse_lines
from wattlake.sources.lcl_users import LCL_PROFILE_EFFECTIVE_DATE, households_as_profiles

HOUSEHOLDS = realdata("lcl/informations_households.csv")


def _real() -> list[dict[str, str]]:
    with HOUSEHOLDS.open(newline="") as f:
        return list(csv.DictReader(f))


def test_real_household_list_as_profile_rows() -> None:
    data = HOUSEHOLDS.read_bytes()
    assert detect_format(data) == "lcl-households"
    pf = households_as_profiles(data, HOUSEHOLDS.name)
    real = _real()
    assert (pf.fmt, pf.lines, pf.rows.num_rows, pf.dead.num_rows) == ("users", 5566, 5566, 0)
    assert pf.rows.column_names == [*USER_PROFILE_COLUMNS, "_row_number"]
    got = pf.rows.to_pylist()
    for i in (0, 2, 1000, 5565):
        src, row = real[i], got[i]
        assert row["user_id"] == row["meter_id"] == src["LCLid"]
        assert row["tariff"] == src["stdorToU"]
        grouped = src["Acorn_grouped"]
        assert row["acorn_group"] == ("" if grouped in ("ACORN-", "") else grouped)
        assert row["_row_number"] == i + 2
        assert row["effective_date"] == LCL_PROFILE_EFFECTIVE_DATE.isoformat()
        assert (row["user_type"], row["panel_kwp"], row["pv_meter_id"]) == ("consumer", "0", "")
    assert got[0]["user_id"] == "MAC005492" and got[0]["acorn_group"] == ""  # ACORN- = unknown
    assert got[2]["acorn_group"] == "Affluent"


@pytest.mark.parametrize(
    "fmt",
    [
        pytest.param(None, id="detected"),
        pytest.param("lcl-households", id="explicit"),
        pytest.param("lcl", id="with_the_lcl_blocks"),
        pytest.param("meter-csv", id="beside_meter_csv_readings"),
    ],
)
def test_the_household_list_is_recognised_under_any_reading_format(fmt: str | None) -> None:
    data = HOUSEHOLDS.read_bytes()
    found = formats.resolve(data, fmt, "h.csv")
    assert found == "lcl-households"
    assert formats.parse(data, found, "h.csv").rows.num_rows == 5566


def test_the_line_parser_does_not_take_the_household_list_for_readings() -> None:
    with pytest.raises(InputError, match="not the meter-csv layout"):
        parse_lines(HOUSEHOLDS.read_bytes(), "meter-csv", "h.csv")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("LCLid,stdorToU,Acorn,Acorn_grouped,file\nM1,Dyn,ACORN-A,Affluent,b\n",
                     "unknown stdorToU", id="unknown_tariff"),
        pytest.param("LCLid,stdorToU,Acorn,Acorn_grouped,file\nM1,Std,A,Affluent,b\n"
                     "M1,ToU,A,Affluent,b\n", "duplicate LCLid", id="duplicate_household"),
    ],
)  # fmt: skip
def test_bad_household_lists_are_rejected_whole(tmp_path: Path, text: str, message: str) -> None:
    home = tmp_path / "home"
    r = wl("ingest", str(write(tmp_path / "h.csv", text)), home=home)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_households_and_readings_to_dim_users(tmp_path: Path) -> None:
    block = write(
        tmp_path / "halfhourly_dataset" / "block_0.csv",
        "LCLid,tstp,energy(kWh/hh)\n"
        "MAC000002,2012-10-12 00:00:00.0000000,0.2\n"
        "MAC000002,2012-10-12 00:30:00.0000000,0.25\n"
        "MAC005492,2012-10-12 00:00:00.0000000, Null\n"
        "MAC005492,2012-10-12 00:30:00.0000000,0.1\n",
    )
    home = tmp_path / "home"
    r = wl("ingest", str(HOUSEHOLDS), str(block.parent), "--format", "lcl", home=home)
    assert r.returncode == 0, r.stderr
    r = wl("run", home=home)
    assert r.returncode == 0, r.stderr
    r = wl(
        "sql",
        "SELECT tariff, count(*) FROM dw.dim_users WHERE is_current GROUP BY 1 ORDER BY 1",
        "--format",
        "csv",
        home=home,
    )
    real = _real()
    tou = sum(h["stdorToU"] == "ToU" for h in real)
    assert r.stdout.splitlines() == ["tariff,count_star()", f"Std,{5566 - tou}", f"ToU,{tou}"]
    r = wl(
        "sql",
        "SELECT u.user_id, u.tariff, u.acorn_group, u.effective_date, "
        "sum(f.consumption_kwh) AS kwh FROM dw.fact_energy_flow f JOIN dw.dim_users u "
        "USING (user_sk) GROUP BY ALL ORDER BY 1",
        "--format",
        "csv",
        home=home,
    )
    assert r.stdout.splitlines()[1:] == [
        f"MAC000002,Std,Affluent,{LCL_PROFILE_EFFECTIVE_DATE},0.45",
        f"MAC005492,ToU,,{LCL_PROFILE_EFFECTIVE_DATE},0.1",
    ]
    # Re-ingesting the list changes nothing (same SHA-256).
    r = wl("ingest", str(HOUSEHOLDS), home=home)
    assert r.returncode == 0 and "skipped" in r.stdout
    assert dt.date.fromisoformat(str(LCL_PROFILE_EFFECTIVE_DATE)) < dt.date(2012, 10, 12)
