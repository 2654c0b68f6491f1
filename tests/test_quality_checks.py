"""Data-quality checks: every check passes on clean generated data and fails, with the
failing key in its sample, on a deliberately corrupted copy of the home."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import sql_of, with_ctx
from wattlake.config import load_settings
from wattlake.generate import generate
from wattlake.lake import catalog as cat
from wattlake.lake.catalog import OPS_QUALITY_RESULTS
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.quality.checks import CHECKS, LAYERS, get_check
from wattlake.quality.report import load_latest
from wattlake.quality.runner import (
    QualityGateError,
    evaluate,
    gate,
    pass_rates,
    run_checks,
    store_results,
)
from wattlake.warehouse.targets import warehouse_path

NOW = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)  # after the generated data (2024-03-01..04)


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quality")
    gen = generate(root / "in", 12, 4, seed=3, fmt="lcl", faults=True, households_per_file=10)
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    return s.home


@pytest.fixture
def home_copy(clean_home: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(clean_home, dst)
    return dst


def _first(lake: Lake, spec: TableSpec) -> dict[str, object]:
    return lake.read(spec).slice(0, 1).to_pylist()[0]


def _append(home: Path, spec: TableSpec, row: dict[str, object]) -> None:
    Lake(home).append(spec, pa.Table.from_pylist([row]))


def _wh(home: Path, *sql: str) -> None:
    con = duckdb.connect(str(warehouse_path(home)))
    try:
        for s in sql:
            con.execute(s)
    finally:
        con.close()


def _key(row: dict[str, object], *cols: str) -> str:
    return "|".join(str(row[c]) for c in cols)


def _pg_ts(ts: object) -> str:
    """A timestamptz as DuckDB prints it in UTC (`2024-03-01 00:00:00+00`)."""
    assert isinstance(ts, dt.datetime)
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00")


# -- corruptions: each returns a substring expected in the failing check's sample ---------


def dup_silver(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    _append(home, cat.SILVER_READINGS, row)
    return f"{row['meter_id']}|{_pg_ts(row['ts'])}"


def silver_kwh_out_of_range(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="BADKWH", kwh=99.0, kw=198.0)
    _append(home, cat.SILVER_READINGS, row)
    return "BADKWH"


def silver_null_kwh(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="NULLKWH", kwh=None)
    _append(home, cat.SILVER_READINGS, row)
    return "NULLKWH"


def silver_bad_grade(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="BADGRADE", quality_score=100, quality_grade="F")
    _append(home, cat.SILVER_READINGS, row)
    return "BADGRADE"


def silver_bad_tier(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="BADTIER", quality_score=75, quality_grade="B", quality_tier="premium")
    _append(home, cat.SILVER_READINGS, row)
    return "BADTIER"


def silver_bad_score(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="BADSCORE", quality_score=140, quality_grade="A")
    _append(home, cat.SILVER_READINGS, row)
    return "BADSCORE"


def silver_bad_kw(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_READINGS)
    row.update(meter_id="BADKW", kwh=1.0, kw=7.0)
    _append(home, cat.SILVER_READINGS, row)
    return "BADKW"


def silver_huge_meter(home: Path) -> str:
    base = _first(Lake(home), cat.SILVER_READINGS)
    rows = []
    for i in range(4):
        r = dict(base)
        r.update(
            meter_id="HUGE",
            ts=dt.datetime(2024, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=30 * i),
            kwh=5.0,
            kw=10.0,
            _record_id=f"huge{i}",
        )
        rows.append(r)
    Lake(home).append(cat.SILVER_READINGS, pa.Table.from_pylist(rows))
    return "HUGE=240"


def bronze_orphan(home: Path) -> str:
    row = _first(Lake(home), cat.BRONZE_READINGS)
    row.update(_record_id="orphan-record")
    _append(home, cat.BRONZE_READINGS, row)
    return "missing:orphan-record"


def bronze_null_lineage(home: Path) -> str:
    row = _first(Lake(home), cat.BRONZE_READINGS)
    row.update(_record_id="nolineage", _batch_id=None)
    _append(home, cat.BRONZE_READINGS, row)
    return "nolineage"


def quarantine_no_rules(home: Path) -> str:
    row = _first(Lake(home), cat.SILVER_QUARANTINE)
    row.update(_record_id="norules", rules="")
    _append(home, cat.SILVER_QUARANTINE, row)
    return "norules"


def weather_hot(home: Path) -> str:
    _append(
        home,
        cat.SILVER_WEATHER,
        {
            "latitude": 51.5,
            "longitude": -0.1,
            "ts": dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
            "temperature_c": 61.0,
        },
    )
    return "=61.0"


def _mutate_flow(home: Path, **changes: float) -> str:
    lake = Lake(home)
    flow = lake.read(cat.GOLD_FLOW_HOURLY)
    rows = flow.to_pylist()
    target = next(r for r in rows if r["consumption_kwh"] > 0.1)
    for col, delta in changes.items():
        target[col] = target[col] + delta
    lake.replace_where(cat.GOLD_FLOW_HOURLY, pa.Table.from_pylist(rows, flow.schema), None)
    return f"{target['user_id']}|{_pg_ts(target['hour_ts'])}"


def gold_negative(home: Path) -> str:
    lake = Lake(home)
    flow = lake.read(cat.GOLD_FLOW_HOURLY)
    rows = flow.to_pylist()
    rows[0]["consumption_kwh"] = -1.0
    rows[0]["grid_import_kwh"] = -1.0 - rows[0]["self_consumption_kwh"]
    lake.replace_where(cat.GOLD_FLOW_HOURLY, pa.Table.from_pylist(rows, flow.schema), None)
    return f"{rows[0]['user_id']}|{_pg_ts(rows[0]['hour_ts'])}"


def gold_unbalanced(home: Path) -> str:
    return _mutate_flow(home, grid_import_kwh=5.0)


def gold_daily_off(home: Path) -> str:
    key = _mutate_flow(home, consumption_kwh=2.0, grid_import_kwh=2.0)
    user, ts = key.split("|")
    return f"{user}|{ts[:10]}"


def gold_ghost_user(home: Path) -> str:
    row = _first(Lake(home), cat.GOLD_FLOW_HOURLY)
    row.update(user_id="GHOST")
    _append(home, cat.GOLD_FLOW_HOURLY, row)
    return "GHOST"


def gold_fourth_peak(home: Path) -> str:
    row = _first(Lake(home), cat.GOLD_PEAK_HOURS)
    row.update(peak_rank=4)
    _append(home, cat.GOLD_PEAK_HOURS, row)
    return f"{row['date']} n=4"


def gold_stats_off(home: Path) -> str:
    lake = Lake(home)
    t = lake.read(cat.GOLD_HOURLY_METER)
    kwh = pc.add(t["kwh"], pa.scalar(0.0))
    kwh = pa.concat_arrays([pa.array([kwh[0].as_py() + 1.0]), kwh.slice(1).combine_chunks()])
    t2 = t.set_column(t.schema.get_field_index("kwh"), "kwh", kwh)
    lake.replace_where(cat.GOLD_HOURLY_METER, t2, None)
    return f"{t['meter_id'][0]}|{_pg_ts(t['hour_ts'][0].as_py())}"


def wh_orphan_user(home: Path) -> str:
    _wh(
        home,
        "INSERT INTO dw.fact_energy_flow "
        "SELECT * REPLACE (999999 AS user_sk) FROM dw.fact_energy_flow LIMIT 1",
    )
    return "999999|"


def wh_orphan_time(home: Path) -> str:
    _wh(
        home,
        "INSERT INTO dw.fact_energy_flow "
        "SELECT * REPLACE (1999010100 AS time_sk) FROM dw.fact_energy_flow LIMIT 1",
    )
    return "|1999010100"


def wh_orphan_monthly(home: Path) -> str:
    _wh(
        home,
        "INSERT INTO dw.fact_monthly_summary "
        "SELECT * REPLACE (888888 AS user_sk) FROM dw.fact_monthly_summary LIMIT 1",
    )
    return "888888|"


def wh_two_current(home: Path) -> str:
    _wh(
        home,
        "INSERT INTO dw.dim_users SELECT 777777, user_id, meter_id, pv_meter_id, user_type, "
        "panel_kwp, panel_tilt_deg, panel_azimuth_deg, latitude, longitude, tariff, "
        "acorn_group, DATE '2030-01-01', DATE '9999-12-31', true, false, row_hash "
        "FROM dw.dim_users WHERE user_id = 'U000001'",
    )
    return "U000001 current=2"


def wh_overlap(home: Path) -> str:
    _wh(
        home,
        "UPDATE dw.dim_users SET expiration_date = DATE '2024-03-04' "
        "WHERE user_id = 'U000003' AND NOT is_current",
    )
    return "U000003|2024-03-01"


def wh_missing_fact(home: Path) -> str:
    con = duckdb.connect(str(warehouse_path(home)))
    try:
        user_sk, time_sk, user_id, ts = con.execute(
            "SELECT f.user_sk, f.time_sk, u.user_id, t.ts FROM dw.fact_energy_flow f "
            "JOIN dw.dim_users u USING (user_sk) JOIN dw.dim_time t USING (time_sk) "
            "ORDER BY 1, 2 LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        con.execute(
            f"DELETE FROM dw.fact_energy_flow WHERE user_sk = {user_sk} AND time_sk = {time_sk}"
        )
    finally:
        con.close()
    return f"{user_id}|{ts}"


def wh_monthly_off(home: Path) -> str:
    _wh(
        home,
        "UPDATE dw.fact_monthly_summary SET total_consumption = total_consumption + 10 "
        "WHERE user_sk = 1",
    )
    return "1|202403"


def wh_unbalanced(home: Path) -> str:
    _wh(
        home,
        "UPDATE dw.fact_energy_flow SET p2p_import_kwh = 3.0 "
        "WHERE user_sk = 1 AND time_sk = (SELECT min(time_sk) FROM dw.fact_energy_flow "
        "WHERE user_sk = 1)",
    )
    return "1|"


def wh_dup_fact(home: Path) -> str:
    _wh(
        home,
        "INSERT INTO dw.fact_energy_flow SELECT * FROM dw.fact_energy_flow "
        "WHERE user_sk = 2 ORDER BY time_sk LIMIT 1",
    )
    return "2|"


def kpi_ghost_user(home: Path) -> str:
    row = _first(Lake(home), cat.GOLD_USER_KPIS)
    row.update(user_id="GHOSTKPI")
    _append(home, cat.GOLD_USER_KPIS, row)
    return "GHOSTKPI|"


def community_kpi_off(home: Path) -> str:
    row = _first(Lake(home), cat.GOLD_COMMUNITY_KPIS)
    row.update(community_id=999, members=1)
    _append(home, cat.GOLD_COMMUNITY_KPIS, row)
    return "999|"


def wh_p2p_revenue_off(home: Path) -> str:
    _wh(
        home,
        "UPDATE dw.fact_monthly_summary SET total_p2p_revenue = total_p2p_revenue + 5, "
        "total_revenue = total_revenue + 5 WHERE user_sk = 1",
    )
    return "1|202403"


def wh_dangling_price(home: Path) -> str:
    _wh(
        home,
        "UPDATE dw.fact_energy_flow SET price_sk = 999999 "
        "WHERE user_sk = 1 AND time_sk = (SELECT min(time_sk) FROM dw.fact_energy_flow "
        "WHERE user_sk = 1)",
    )
    return "1|"


def enriched_dropped(home: Path) -> str:
    lake = Lake(home)
    day = _first(lake, cat.GOLD_READINGS_ENRICHED)["date"]
    lake.delete(cat.GOLD_READINGS_ENRICHED, f"date = '{day}' AND meter_id = 'MAC000001'")
    return f"{day} enriched="


def pv_negative(home: Path) -> str:
    row = {
        "user_id": "NEGPV",
        "hour_ts": dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC),
        "date": dt.date(2024, 3, 1),
        "modelled_kwh": -1.0,
        "model_input": "weather",
    }
    _append(home, cat.GOLD_PV_MODELLED, row)
    return "NEGPV|"


def _agreements(home: Path, valid_to: dt.date) -> None:
    _append(home, cat.SILVER_METERPOINTS, {"meterpoint_id": "1001", "region": "A"})
    _append(home, cat.SILVER_PRODUCTS, {"product_id": "P1", "display_name": "Fixed"})
    _append(
        home,
        cat.SILVER_AGREEMENTS,
        {
            "agreement_id": "AG1" if valid_to.year > 2024 else "AG2",
            "meterpoint_id": "1001",
            "product_id": "P1",
            "agreement_valid_from": dt.date(2024, 3, 1),
            "agreement_valid_to": valid_to,
        },
    )


def agreement_backwards(home: Path) -> str:
    _agreements(home, dt.date(2024, 2, 1))
    return "AG2"


Corrupt = Callable[[Path], str]
CASES: list[tuple[str, Corrupt]] = [
    ("silver.readings.unique_meter_ts", dup_silver),
    ("silver.readings.kwh_range", silver_kwh_out_of_range),
    ("silver.readings.not_null_keys", silver_null_kwh),
    ("silver.readings.grade_consistent", silver_bad_grade),
    ("silver.readings.tier_consistent", silver_bad_tier),
    ("silver.readings.score_range", silver_bad_score),
    ("silver.readings.kw_consistent", silver_bad_kw),
    ("silver.readings.mean_daily_kwh", silver_huge_meter),
    ("silver.row_accounting", bronze_orphan),
    ("bronze.meter_readings.lineage_not_null", bronze_null_lineage),
    ("bronze.meter_readings.unique_record_id", lambda h: dup_bronze(h)),
    ("silver.quarantine.has_rules", quarantine_no_rules),
    ("silver.weather.temperature_range", weather_hot),
    ("gold.energy_flow_hourly.non_negative", gold_negative),
    ("gold.energy_flow_hourly.balance_identity", gold_unbalanced),
    ("gold.daily_energy_balance.equals_hourly_sum", gold_daily_off),
    ("gold.energy_flow_hourly.user_known", gold_ghost_user),
    ("gold.energy_flow_hourly.unique_user_hour", lambda h: dup_flow(h)),
    ("gold.peak_hours.max_three_per_day", gold_fourth_peak),
    ("gold.hourly_meter_stats.equals_silver_sum", gold_stats_off),
    ("gold.readings_enriched.rows_match_silver", enriched_dropped),
    ("gold.pv_modelled_hourly.range", pv_negative),
    ("silver.agreements.valid", agreement_backwards),
    ("gold.p2p_user_kpis_daily.equals_flow", kpi_ghost_user),
    ("gold.p2p_community_kpis_daily.equals_users", community_kpi_off),
    ("warehouse.fact_monthly_summary.p2p_revenue", wh_p2p_revenue_off),
    ("warehouse.fact_energy_flow.fk_weather_price", wh_dangling_price),
    ("warehouse.fact_energy_flow.fk_user", wh_orphan_user),
    ("warehouse.fact_energy_flow.fk_time", wh_orphan_time),
    ("warehouse.fact_monthly_summary.fk_user", wh_orphan_monthly),
    ("warehouse.dim_users.one_current", wh_two_current),
    ("warehouse.dim_users.no_overlap", wh_overlap),
    ("warehouse.fact_energy_flow.rows_match_gold", wh_missing_fact),
    ("warehouse.fact_monthly_summary.equals_facts", wh_monthly_off),
    ("warehouse.fact_energy_flow.balance_identity", wh_unbalanced),
    ("warehouse.fact_energy_flow.unique_user_time", wh_dup_fact),
    ("warehouse.fact_energy_flow.gold_totals", lambda h: (wh_missing_fact(h), "totals")[1]),
]


def dup_bronze(home: Path) -> str:
    row = _first(Lake(home), cat.BRONZE_READINGS)
    _append(home, cat.BRONZE_READINGS, row)
    return str(row["_record_id"])


def dup_flow(home: Path) -> str:
    row = _first(Lake(home), cat.GOLD_FLOW_HOURLY)
    _append(home, cat.GOLD_FLOW_HOURLY, row)
    return f"{row['user_id']}|{_pg_ts(row['hour_ts'])}"


def _run_one(home: Path, check_id: str, now: dt.datetime = NOW):  # type: ignore[no-untyped-def]
    con = sql_of(home)
    try:
        return evaluate(con, get_check(check_id), "t", now)
    finally:
        con.close()


def test_registry() -> None:
    assert len(CHECKS) >= 30
    assert len({c.check_id for c in CHECKS}) == len(CHECKS)
    assert {c.layer for c in CHECKS} == set(LAYERS)
    assert all(c.severity in ("error", "warn") for c in CHECKS)
    for layer in LAYERS:
        assert sum(c.layer == layer for c in CHECKS) >= 5


def test_all_checks_pass_on_clean_data(clean_home: Path) -> None:
    results = run_checks(sql_of(clean_home), "clean", now=NOW)
    assert len(results) == len(CHECKS)
    bad = [(r.check_id, r.observed, r.sample) for r in results if r.passed is False]
    assert bad == []
    skipped = {r.check_id for r in results if r.status == "skipped"}
    # Only the tables generated meter data does not produce are skipped.
    assert skipped <= {
        "bronze.api_responses.freshness",
        "silver.weather.temperature_range",
        "silver.weather.unique_location_ts",
        "silver.prices.unique_zone_ts",
        "silver.agreements.valid",
    }
    assert all(v["pass_ratio"] == 1.0 for v in pass_rates(results).values())
    assert gate(results, "silver") == [] and gate(results, "warehouse") == []


@pytest.mark.parametrize(("check_id", "corrupt"), [pytest.param(c, f, id=c) for c, f in CASES])
def test_check_fails_on_corrupted_copy(
    clean_home: Path, home_copy: Path, check_id: str, corrupt: Corrupt
) -> None:
    before = _run_one(clean_home, check_id)
    if check_id.startswith("silver.weather."):  # no weather ingested: add a valid row
        # The table is missing (skipped) or created empty by the warehouse load (passed).
        assert before.status in ("skipped", "passed") and before.failing_rows == 0
        _append(
            home_copy,
            cat.SILVER_WEATHER,
            {
                "latitude": 51.5,
                "longitude": -0.1,
                "ts": dt.datetime(2024, 3, 1, 11, tzinfo=dt.UTC),
                "temperature_c": 9.5,
            },
        )
        before = _run_one(home_copy, check_id)
    elif check_id == "silver.agreements.valid":  # no agreements ingested: add a valid one
        assert before.status == "skipped"
        _agreements(home_copy, dt.date(2025, 1, 1))
        before = _run_one(home_copy, check_id)
    assert before.passed is True, (before.observed, before.sample)
    expected_key = corrupt(home_copy)
    after = _run_one(home_copy, check_id)
    assert after.passed is False, after
    assert after.failing_rows >= 1
    assert any(expected_key in k for k in after.sample), (expected_key, after.sample)
    assert len(after.sample) <= 10


def test_every_check_id_in_cases_exists() -> None:
    for check_id, _ in CASES:
        get_check(check_id)


@pytest.mark.parametrize(
    ("check_id", "now"),
    [
        pytest.param("bronze.manifest.freshness", "ingest+48h", id="stale_source"),
        pytest.param("silver.readings.no_future_ts", "2024-03-02", id="future_readings"),
    ],
)
def test_time_relative_checks(clean_home: Path, check_id: str, now: str) -> None:
    if now == "ingest+48h":
        ref = dt.datetime.now(dt.UTC) + dt.timedelta(hours=48)
        expected = "lcl last"
    else:
        ref = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
        expected = "|2024-03-0"
    assert _run_one(clean_home, check_id, dt.datetime.now(dt.UTC)).passed is True
    res = _run_one(clean_home, check_id, ref)
    assert res.passed is False
    assert any(expected in k for k in res.sample), res.sample


def test_missing_bronze_fails_and_others_skip(tmp_path: Path) -> None:
    results = {r.check_id: r for r in run_checks(sql_of(tmp_path / "empty"), "e", now=NOW)}
    assert results["bronze.meter_readings.non_empty"].passed is False
    assert results["bronze.meter_readings.schema"].passed is False
    assert results["silver.readings.unique_meter_ts"].status == "skipped"
    assert results["warehouse.dim_users.one_current"].status == "skipped"


def test_layers_filter_and_unknown_layer(clean_home: Path) -> None:
    rs = run_checks(sql_of(clean_home), "l", layers=["gold"], now=NOW)
    assert rs and {r.layer for r in rs} == {"gold"}
    with pytest.raises(ValueError, match="unknown layer"):
        run_checks(sql_of(clean_home), "l", layers=["platinum"])


def test_gate_and_store(home_copy: Path) -> None:
    dup_silver(home_copy)
    gold_negative(home_copy)
    results = run_checks(sql_of(home_copy), "run-gate", now=NOW)
    silver_fail = gate(results, "silver")
    assert [r.check_id for r in silver_fail] == ["silver.readings.unique_meter_ts"]
    assert "gold.energy_flow_hourly.non_negative" in {r.check_id for r in gate(results, "gold")}
    # warn-severity failures never gate
    assert all(r.severity == "error" for r in silver_fail)
    err = QualityGateError(silver_fail, "silver")
    assert "silver.readings.unique_meter_ts" in str(err) and "--force" in str(err)

    lake = Lake(home_copy)
    # The pipeline that built the home stored its own gate results: start from none.
    shutil.rmtree(lake.path(OPS_QUALITY_RESULTS), ignore_errors=True)
    assert store_results(lake, results) == len(results)
    assert store_results(lake, results) == 0  # idempotent per (run_id, check_id)
    stored = lake.read(OPS_QUALITY_RESULTS)
    assert set(stored.column_names) >= {
        "run_id",
        "checked_at",
        "check_id",
        "layer",
        "severity",
        "description",
        "passed",
        "observed",
        "failing_rows",
        "sample",
    }
    latest, trend = load_latest(sql_of(home_copy))
    assert {r.check_id for r in latest} == {r.check_id for r in results}
    dup = next(r for r in latest if r.check_id == "silver.readings.unique_meter_ts")
    assert dup.passed is False and dup.sample
    assert trend[-1]["run_id"] == "run-gate" and trend[-1]["failed"] >= 2
