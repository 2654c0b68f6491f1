"""Tests for wattlake.generate (synthetic readings, SCD2 users, fault labels)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wattlake.generate import GenerationResult, generate

NOW = datetime.datetime(2024, 6, 1, 12, 7, tzinfo=datetime.UTC)
START = datetime.date(2024, 3, 1)
HEADERS = {
    "lcl": "LCLid,tstp,energy(kWh/hh)",
    "meter-csv": "meter_id,timestamp,value,unit",
}
TS_FORMAT = {"lcl": "%Y-%m-%d %H:%M:%S.0000000", "meter-csv": "%Y-%m-%dT%H:%M:%SZ"}
TO_KWH = {"kW": 0.5, "": 0.5, "kWh": 1.0, "W": 0.0005, "watts": 0.0005}
METER_RE = re.compile(r"^(MAC|PV)\d{6}$")
ALL_FAULTS = {
    "gap",
    "duplicate",
    "unit_w",
    "missing_unit",
    "negative",
    "spike",
    "over_limit",
    "stuck",
    "zero",
    "future",
    "malformed",
}
LCL_FAULTS = ALL_FAULTS - {"unit_w", "missing_unit"}


def parse(line: str, fmt: str) -> tuple[str, datetime.datetime, float, str]:
    """Strictly parse one reading line into (meter, UTC time, kWh per half hour, unit)."""
    fields = line.split(",")
    if len(fields) != (3 if fmt == "lcl" else 4):
        raise ValueError("field count")
    meter, ts, value = fields[:3]
    unit = fields[3] if fmt == "meter-csv" else "kWh"
    if not METER_RE.match(meter) or unit not in TO_KWH:
        raise ValueError("meter/unit")
    when = datetime.datetime.strptime(ts, TS_FORMAT[fmt]).replace(tzinfo=datetime.UTC)
    return meter, when, float(value) * TO_KWH[unit], unit


def read_lines(result: GenerationResult) -> dict[str, list[str]]:
    """File name → lines (header included, index 0 = line 1)."""
    return {p.name: p.read_text().splitlines() for p in result.files}


def readings_frame(result: GenerationResult, fmt: str) -> pd.DataFrame:
    """All reading lines of a fault-free run as a DataFrame (meter, time, kwh, unit)."""
    rows = [parse(x, fmt) for lines in read_lines(result).values() for x in lines[1:]]
    return pd.DataFrame(rows, columns=["meter", "time", "kwh", "unit"])


def expected_clean_count(users: pd.DataFrame, households: int, days: int) -> int:
    """households × days × 48 plus the PV intervals from each installation date."""
    pv = users[users["user_type"] == "prosumer"].groupby("user_id")["effective_date"].min()
    install = pd.to_datetime(pv).dt.date
    pv_days = sum(days - (d - START).days for d in install)
    return (households * days + pv_days) * 48


@pytest.fixture(scope="module", params=["lcl", "meter-csv"])
def clean_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    fmt = request.param
    out = tmp_path_factory.mktemp(f"clean_{fmt}")
    return fmt, generate(out, 60, 14, seed=7, fmt=fmt, households_per_file=25, now=NOW)


@pytest.fixture(scope="module", params=["lcl", "meter-csv"])
def faulty_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    fmt = request.param
    out = tmp_path_factory.mktemp(f"faulty_{fmt}")
    return fmt, generate(out, 20, 7, seed=3, fmt=fmt, faults=True, now=NOW)


def test_headers_and_files(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    prefix = "block" if fmt == "lcl" else "meters"
    assert [p.name for p in res.files] == [f"{prefix}_{k}.csv" for k in range(3)]
    for lines in read_lines(res).values():
        assert lines[0] == HEADERS[fmt]
    assert res.users_file.read_text().splitlines()[0] == (
        "user_id,meter_id,pv_meter_id,user_type,panel_kwp,panel_tilt_deg,panel_azimuth_deg,"
        "latitude,longitude,tariff,acorn_group,effective_date"
    )
    assert res.labels_file is None


def test_line_format_examples(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    line = read_lines(res)[res.files[0].name][1]
    if fmt == "lcl":
        assert re.fullmatch(r"MAC000001,2024-03-01 00:00:00\.0000000,\d+\.\d{3}", line)
    else:
        assert re.fullmatch(r"MAC000001,2024-03-01T00:00:00Z,\d+\.\d{3},kWh?", line)


def test_clean_counts_and_order(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    users = pd.read_csv(res.users_file, keep_default_na=False)
    df = readings_frame(res, fmt)
    assert len(df) == res.readings == expected_clean_count(users, 60, 14)
    assert (
        res.meters
        == df["meter"].nunique()
        == 60 + users["pv_meter_id"].ne("").groupby(users["user_id"]).any().sum()
    )
    assert not df.duplicated(["meter", "time"]).any()
    # sorted by meter (household, then its PV meter) then time
    num = df["meter"].str[-6:].astype(int) * 2 + df["meter"].str.startswith("PV")
    key = num.to_numpy() * 10**12 + df["time"].astype("int64").to_numpy() // 10**9
    assert (np.diff(key) > 0).all()


def test_no_negative_or_over_limit_without_faults(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    df = readings_frame(res, fmt)
    assert (df["kwh"] >= 0).all()
    assert (df["kwh"] * 2 <= 20).all()
    if fmt == "meter-csv":
        share_kw = (df.groupby("meter")["unit"].first() == "kW").mean()
        assert 0.45 < share_kw < 0.9
        assert df.groupby("meter")["unit"].nunique().max() == 1


def test_daily_totals_plausible(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    df = readings_frame(res, fmt)
    cons = df[df["meter"].str.startswith("MAC")]
    per_hh = cons.groupby("meter")["kwh"].sum() / 14
    assert 5 <= per_hh.mean() <= 15
    assert per_hh.min() < per_hh.max() / 2  # households differ


def test_pv_night_zero_noon_positive(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    df = readings_frame(res, fmt)
    pv = df[df["meter"].str.startswith("PV")]
    assert len(pv) > 0
    hour = pv["time"].dt.hour
    assert (pv.loc[(hour >= 23) | (hour < 3), "kwh"] == 0).all()
    noon = pv[(hour == 12)]
    assert (noon["kwh"] > 0).all()
    # evening-peak consumption above night consumption
    cons = df[df["meter"].str.startswith("MAC")]
    ch = cons["time"].dt.hour
    assert (
        cons.loc[ch.between(17, 20), "kwh"].mean() > 1.5 * cons.loc[ch.between(1, 4), "kwh"].mean()
    )


def test_scd2_history_consistent_with_readings(clean_run: tuple[str, GenerationResult]) -> None:
    fmt, res = clean_run
    users = pd.read_csv(res.users_file, keep_default_na=False)
    versions = users.groupby("user_id").size()
    assert (versions >= 2).any()
    first = users.groupby("user_id")["effective_date"].min()
    assert (first == START.isoformat()).all()
    assert set(users["user_type"]) == {"consumer", "prosumer"}
    assert set(users["acorn_group"]) <= {"Affluent", "Comfortable", "Adversity"}
    assert set(users["tariff"]) <= {"Std", "ToU"}
    pros = users[users["user_type"] == "prosumer"]
    assert pros["panel_kwp"].between(2.0, 8.0).all()
    assert (users.loc[users["user_type"] == "consumer", "panel_kwp"] == 0).all()
    assert users["latitude"].between(51.35, 51.65).all()
    assert users["longitude"].between(-0.45, 0.20).all()

    df = readings_frame(res, fmt)
    first_pv = df[df["meter"].str.startswith("PV")].groupby("meter")["time"].min()
    install = pros.groupby("pv_meter_id")["effective_date"].min()
    assert set(first_pv.index) == set(install.index)
    late = install[install > START.isoformat()]
    assert len(late) >= 1  # some consumer became a prosumer mid-period
    for meter, date in install.items():
        assert first_pv[meter] == pd.Timestamp(date, tz="UTC")


def test_pv_scales_with_panel_upgrade(tmp_path: Path) -> None:
    res = generate(tmp_path, 200, 10, seed=11, now=NOW)
    users = pd.read_csv(res.users_file, keep_default_na=False)
    pros = users[users["user_type"] == "prosumer"]
    kwp = pros.groupby("user_id")["panel_kwp"].agg(["first", "last", "nunique"])
    upgraded = kwp[kwp["nunique"] == 2].index
    assert len(upgraded) >= 1
    df = readings_frame(res, "lcl")
    for uid in upgraded:
        rows = pros[pros["user_id"] == uid]
        meter = rows["pv_meter_id"].iloc[0]
        change = pd.Timestamp(rows["effective_date"].iloc[-1], tz="UTC")
        pv = df[df["meter"] == meter]
        assert pv["kwh"].max() > 0
        cap_before = rows["panel_kwp"].iloc[0] * 0.5
        assert (pv.loc[pv["time"] < change, "kwh"] <= cap_before).all()


def test_determinism_same_seed(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 12, 5, seed=5, fmt="meter-csv", faults=True, now=NOW)
    b = generate(tmp_path / "b", 12, 5, seed=5, fmt="meter-csv", faults=True, now=NOW)
    for fa, fb in zip(
        [*a.files, a.users_file, a.labels_file],
        [*b.files, b.users_file, b.labels_file],
        strict=True,
    ):
        assert fa.read_bytes() == fb.read_bytes()


def test_different_seeds_differ(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", 12, 5, seed=5, now=NOW)
    b = generate(tmp_path / "b", 12, 5, seed=6, now=NOW)
    assert a.files[0].read_bytes() != b.files[0].read_bytes()
    assert a.users_file.read_bytes() != b.users_file.read_bytes()


def test_progress_called(tmp_path: Path) -> None:
    seen: list[int] = []
    res = generate(tmp_path, 7, 2, households_per_file=3, progress=seen.append, now=NOW)
    assert len(seen) == len(res.files) == 3
    assert seen == sorted(seen) and seen[-1] == res.readings


def test_fault_labels_match_files(faulty_run: tuple[str, GenerationResult]) -> None:
    fmt, res = faulty_run
    assert res.labels_file is not None
    labels = pd.read_csv(res.labels_file, keep_default_na=False, dtype=str)
    assert list(labels.columns) == ["fault", "meter_id", "timestamp", "file", "line", "detail"]
    expected = ALL_FAULTS if fmt == "meter-csv" else LCL_FAULTS
    assert set(labels["fault"]) == expected
    assert (labels["fault"].value_counts() >= 3).all()

    files = read_lines(res)
    now = NOW
    labelled = labels[labels["line"] != ""]
    assert not labelled.duplicated(["file", "line"]).any()  # one class per line
    for row in labelled.itertuples():
        lines = files[row.file]
        text = lines[int(row.line) - 1]
        if row.fault == "malformed":
            with pytest.raises(ValueError):
                parse(text, fmt)
            continue
        meter, when, kwh, unit = parse(text, fmt)
        assert meter == row.meter_id
        assert when.strftime("%Y-%m-%dT%H:%M:%SZ") == row.timestamp
        if row.fault == "negative":
            assert kwh < 0
        elif row.fault == "over_limit":
            assert kwh * 2 > 20
        elif row.fault == "spike":
            pm, pwhen, pkwh, _ = parse(lines[int(row.line) - 2], fmt)
            assert pm == meter and pwhen == when - datetime.timedelta(minutes=30)
            assert pkwh > 0.05 and kwh > 6 * pkwh and kwh <= 10
        elif row.fault == "duplicate":
            assert lines[int(row.line) - 2] == text
        elif row.fault == "unit_w":
            assert unit in {"W", "watts"}
        elif row.fault == "missing_unit":
            assert unit == ""
        elif row.fault == "zero":
            assert kwh == 0
        elif row.fault == "stuck":
            assert kwh > 0
        elif row.fault == "future":
            assert now + datetime.timedelta(days=1) <= when <= now + datetime.timedelta(days=31)

    stuck = labelled[labelled["fault"] == "stuck"]
    for _, grp in stuck.groupby(["file", "meter_id"]):
        values = {
            files[f][int(n) - 1].split(",")[2] for f, n in zip(grp.file, grp.line, strict=True)
        }
        assert len(values) == 1 and len(grp) % 48 == 0
    assert {d.split("=")[0] for d in labels.loc[labels["fault"] == "malformed", "detail"]} == {
        "wrong_field_count",
        "junk",
        "empty_meter_id",
        "non_numeric_value",
        "impossible_timestamp",
    }


def test_gaps_really_missing(faulty_run: tuple[str, GenerationResult]) -> None:
    fmt, res = faulty_run
    labels = pd.read_csv(res.labels_file, keep_default_na=False, dtype=str)
    gaps = labels[labels["fault"] == "gap"]
    runs = gaps["detail"].str.removeprefix("run_intervals=").astype(int)
    assert (gaps["line"] == "").all()
    assert (runs < 8).any() and runs.between(8, 47).any() and (runs >= 48).any()
    present = set()
    for lines in read_lines(res).values():
        for x in lines[1:]:
            try:
                m, when, _, _ = parse(x, fmt)
            except ValueError:
                continue
            present.add((m, when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    assert not any((m, t) in present for m, t in zip(gaps.meter_id, gaps.timestamp, strict=True))


def test_faulty_counts_consistent(faulty_run: tuple[str, GenerationResult]) -> None:
    _fmt, res = faulty_run
    labels = pd.read_csv(res.labels_file, keep_default_na=False, dtype=str)
    users = pd.read_csv(res.users_file, keep_default_na=False)
    counts = labels["fault"].value_counts()
    expected = (
        expected_clean_count(users, 20, 7)
        - counts["gap"]
        + counts["duplicate"]
        + counts["future"]
        + counts["malformed"]
    )
    n_lines = sum(len(lines) - 1 for lines in read_lines(res).values())
    assert n_lines == res.readings == expected
    faulty_lines = (labels["line"] != "").sum() + counts["gap"]
    assert faulty_lines / n_lines < 0.06


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"households": 0, "days": 1}, id="zero-households"),
        pytest.param({"households": -3, "days": 1}, id="negative-households"),
        pytest.param({"households": 1, "days": 0}, id="zero-days"),
        pytest.param({"households": 1, "days": 1, "households_per_file": 0}, id="zero-per-file"),
        pytest.param({"households": 1, "days": 1, "fmt": "parquet"}, id="bad-format"),
        pytest.param({"households": 1, "days": 1, "seed": -1}, id="negative-seed"),
        pytest.param({"households": 1.5, "days": 1}, id="float-households"),
        pytest.param({"households": 1, "days": 1, "start": "2024-03-01"}, id="string-start"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("households", "days", "per_file", "faults"),
    [
        pytest.param(1, 1, 50, False, id="single-household-single-day"),
        pytest.param(1, 1, 50, True, id="tiny-with-faults"),
        pytest.param(5, 3, 1, True, id="one-household-per-file-faults"),
        pytest.param(10, 7, 50, True, id="small-10x7-faults"),
    ],
)
def test_edge_sizes(
    tmp_path: Path, households: int, days: int, per_file: int, faults: bool
) -> None:
    res = generate(tmp_path, households, days, households_per_file=per_file, faults=faults, now=NOW)
    assert len(res.files) == -(-households // per_file)
    n_lines = sum(len(p.read_text().splitlines()) - 1 for p in res.files)
    assert n_lines == res.readings
    assert res.readings >= households * days * 48 * (0.9 if faults else 1.0)
    if faults and households * days >= 70:
        labels = pd.read_csv(res.labels_file, keep_default_na=False, dtype=str)
        assert set(labels["fault"]) == LCL_FAULTS
