"""Warehouse dimensions on both targets: SCD2 with changes, a deletion and a re-appearance;
`dim_weather` / `dim_prices` from recorded API responses and the facts' keys into them.

Each test builds the same hand-written inputs into a DuckDB home and a PostgreSQL home (a
real server, see `conftest.pg_server`) and checks both.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import pg
from conftest import realdata_api, with_ctx
from wattlake.config import Settings, load_settings
from wattlake.pipeline.external import ingest_prices, ingest_weather
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.pipeline.steps.warehouse import load_warehouse
from wattlake.warehouse.targets import warehouse_path

USERS_HEADER = (
    "user_id,meter_id,pv_meter_id,user_type,panel_kwp,panel_tilt_deg,panel_azimuth_deg,"
    "latitude,longitude,tariff,acorn_group,effective_date"
)
SNAPSHOT_SQL = {
    "dim_users": "SELECT user_sk, user_id, effective_date, expiration_date, is_current, "
    "is_deleted, tariff, latitude FROM dw.dim_users ORDER BY user_sk",
    "facts": "SELECT user_sk, time_sk, consumption_kwh, weather_sk, price_sk "
    "FROM dw.fact_energy_flow ORDER BY user_sk, time_sk",
    "dim_weather": "SELECT * FROM dw.dim_weather ORDER BY weather_sk",
    "dim_prices": "SELECT * FROM dw.dim_prices ORDER BY price_sk",
}


def readings_csv(path: Path, meters: list[str], days: list[tuple[dt.date, int]]) -> Path:
    """Half-hourly meter-csv readings (kWh) for `meters` over (first day, n days) spans."""
    lines = ["meter_id,timestamp,value,unit"]
    for m, meter in enumerate(meters):
        for first, n in days:
            t0 = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)
            for i in range(n * 48):
                ts = t0 + dt.timedelta(minutes=30 * i)
                kwh = 0.2 + 0.01 * m + 0.05 * (ts.hour % 5) + 0.001 * (i % 7)
                lines.append(f"{meter},{ts.isoformat()},{kwh:.4f},kWh")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def users_csv(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([USERS_HEADER, *rows]) + "\n")
    return path


Query = Callable[[str], list[tuple[Any, ...]]]


def duck_query(home: Path) -> Query:
    def q(sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(warehouse_path(home)), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(sql).fetchall()
        finally:
            con.close()

    return q


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Query]]:
    """Settings of a fresh home loading the DuckDB file or a fresh PostgreSQL database."""
    if request.param == "duckdb":
        s = load_settings(home=tmp_path / "home")
        yield s, duck_query(s.home)
        return
    server = request.getfixturevalue("pg_server")
    with pg.fresh_database(server) as url:
        yield load_settings(home=tmp_path / "home", warehouse=url), lambda sql: pg.query(url, sql)


def snapshot(q: Query) -> dict[str, list[tuple[Any, ...]]]:
    return {k: q(sql) for k, sql in SNAPSHOT_SQL.items()}


# -- SCD2 ----------------------------------------------------------------------------------
def test_scd2_changes_deletion_and_reappearance(
    target: tuple[Settings, Query], tmp_path: Path
) -> None:
    s, q = target
    users = users_csv(
        tmp_path / "in" / "users.csv",
        [
            "u1,m1,,consumer,0,,,51.50,-0.12,standard,,2024-03-01",
            "u1,m1,,consumer,0,,,51.50,-0.12,economy7,,2024-03-03",  # tariff change
            "u2,m2,,consumer,0,,,51.51,-0.13,standard,,2024-03-01",
            "u2,,,deleted,,,,,,,,2024-03-03",  # deletion
            "u2,m2,,consumer,0,,,51.52,-0.14,standard,,2024-03-05",  # re-appears, moved
        ],
    )
    readings = readings_csv(tmp_path / "in" / "r.csv", ["m1", "m2"], [(dt.date(2024, 3, 1), 6)])
    with_ctx(s, ingest_files, [users, readings])
    with_ctx(s, run_pipeline)

    rows = q(
        "SELECT user_id, CAST(effective_date AS VARCHAR), CAST(expiration_date AS VARCHAR), "
        "is_current, is_deleted, tariff FROM dw.dim_users ORDER BY user_id, effective_date"
    )
    assert rows == [
        ("u1", "2024-03-01", "2024-03-03", False, False, "standard"),
        ("u1", "2024-03-03", "9999-12-31", True, False, "economy7"),
        ("u2", "2024-03-01", "2024-03-03", False, False, "standard"),
        ("u2", "2024-03-03", "2024-03-05", False, True, None),
        ("u2", "2024-03-05", "9999-12-31", True, False, "standard"),
    ]
    # The deleted user's meter kept reporting: its facts attach to the deletion version.
    hours = dict(
        q(
            "SELECT CAST(u.effective_date AS VARCHAR), count(*) FROM dw.fact_energy_flow f "
            "JOIN dw.dim_users u USING (user_sk) WHERE u.user_id = 'u2' GROUP BY 1"
        )
    )
    assert hours == {"2024-03-01": 48, "2024-03-03": 48, "2024-03-05": 48}

    # Re-running anything changes nothing.
    before = snapshot(q)
    with_ctx(s, run_pipeline)
    with_ctx(s, load_warehouse, [], full_users=True)
    with_ctx(s, load_warehouse, [dt.date(2024, 3, 2), dt.date(2024, 3, 5)], full_users=False)
    assert snapshot(q) == before

    # A later delivery deletes u1: its current row closes, older keys stay as they were.
    keys = dict(
        q("SELECT user_id || '@' || CAST(effective_date AS VARCHAR), user_sk FROM dw.dim_users")
    )
    with_ctx(
        s,
        ingest_files,
        [users_csv(tmp_path / "in2" / "users.csv", ["u1,,,deleted,,,,,,,,2024-03-05"])],
    )
    with_ctx(s, run_pipeline)
    after = dict(
        q("SELECT user_id || '@' || CAST(effective_date AS VARCHAR), user_sk FROM dw.dim_users")
    )
    assert {k: after[k] for k in keys} == keys
    u1 = q(
        "SELECT CAST(effective_date AS VARCHAR), CAST(expiration_date AS VARCHAR), is_current, "
        "is_deleted FROM dw.dim_users WHERE user_id = 'u1' ORDER BY effective_date"
    )
    assert u1 == [
        ("2024-03-01", "2024-03-03", False, False),
        ("2024-03-03", "2024-03-05", False, False),
        ("2024-03-05", "9999-12-31", True, True),
    ]
    assert q(
        "SELECT count(*) FROM dw.fact_energy_flow f JOIN dw.dim_users u USING (user_sk) "
        "WHERE u.user_id = 'u1' AND u.is_deleted"
    ) == [(48,)]


# -- weather and prices --------------------------------------------------------------------
def _expected_categories(prices: dict[dt.datetime, float]) -> dict[dt.datetime, str]:
    """The documented rule on hourly EUR/kWh: negative, low (< 0.8 × day mean), high, normal."""
    out = {}
    for ts, p in prices.items():
        day = [v for t, v in prices.items() if t.date() == ts.date()]
        mean = sum(day) / len(day)
        out[ts] = (
            "negative"
            if p < 0
            else "low"
            if p < 0.8 * mean
            else "high"
            if p > 1.2 * mean
            else "normal"
        )
    return out


def test_weather_and_price_dimensions_and_fact_keys(
    target: tuple[Settings, Query], tmp_path: Path
) -> None:
    s, q = target
    weather_body = realdata_api("open_meteo_forecast_hourly.json")
    price_body = realdata_api("energy_charts_price_DE-LU.json")
    w = with_ctx(
        s,
        ingest_weather,
        50.0,
        10.0,
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 4),
        kind="forecast",
        body=weather_body,
    )
    p = with_ctx(
        s, ingest_prices, "DE-LU", dt.date(2024, 12, 10), dt.date(2024, 12, 11), body=price_body
    )
    assert w.status == p.status == "success"
    # u1 lives ~3 km from the weather grid point, u2 in Berlin (far from it).
    users = users_csv(
        tmp_path / "in" / "users.csv",
        [
            "u1,m1,,consumer,0,,,50.02,10.03,standard,,2024-01-01",
            "u2,m2,,consumer,0,,,52.52,13.40,standard,,2024-01-01",
        ],
    )
    readings = readings_csv(
        tmp_path / "in" / "r.csv",
        ["m1", "m2"],
        [(dt.date(2024, 12, 10), 1), (dt.date(2026, 3, 2), 2)],
    )
    with_ctx(s, ingest_files, [users, readings])
    with_ctx(s, run_pipeline)

    doc = json.loads(weather_body)
    offset = dt.timedelta(seconds=doc["utc_offset_seconds"])  # times are local: to UTC
    temps = {
        dt.datetime.fromisoformat(t) - offset: v
        for t, v in zip(doc["hourly"]["time"], doc["hourly"]["temperature_2m"], strict=True)
    }
    rows = q(
        "SELECT location_zone, date, hour, temperature_c, is_extreme FROM dw.dim_weather "
        "ORDER BY date, hour"
    )
    assert len(rows) == len(temps) == 72
    for zone, date, hour, temp, extreme in rows:
        assert zone == "50.0000,10.0000"
        expected = temps[dt.datetime.combine(date, dt.time(hour))]
        assert temp == pytest.approx(expected)
        assert extreme == (expected > 35 or expected < -10)

    pdoc = json.loads(price_body)
    hourly = {
        dt.datetime.fromtimestamp(u, dt.UTC).replace(tzinfo=None): v / 1000
        for u, v in zip(pdoc["unix_seconds"], pdoc["price"], strict=True)
    }
    cats = _expected_categories(hourly)
    prows = q(
        "SELECT zone, date, hour, spot_price_eur_per_kwh, price_intervals, "
        "grid_buy_price_eur_per_kwh, price_category FROM dw.dim_prices ORDER BY date, hour"
    )
    assert len(prows) == len(hourly) == 48
    for zone, date, hour, spot, n, buy, cat in prows:
        ts = dt.datetime.combine(date, dt.time(hour))
        assert (zone, n, buy) == ("DE-LU", 1, s.grid_buy_eur_per_kwh)
        assert spot == pytest.approx(round(hourly[ts], 6))
        assert cat == cats[ts], ts
    assert ("DE-LU", dt.date(2024, 12, 11), 16) in {r[:3] for r in prows}
    assert 0.44508 in {r[3] for r in prows}  # the recorded 445.08 EUR/MWh hour

    # Facts: u1's hours of 2 Mar 2026 point at that hour's weather; u2 is too far away;
    # the December hours point at that hour's price.
    keyed = q(
        "SELECT u.user_id, t.date, count(*), count(f.weather_sk), count(f.price_sk), "
        "sum(CASE WHEN w.time_sk = f.time_sk THEN 1 ELSE 0 END), "
        "sum(CASE WHEN p.time_sk = f.time_sk THEN 1 ELSE 0 END) "
        "FROM dw.fact_energy_flow f JOIN dw.dim_users u USING (user_sk) "
        "JOIN dw.dim_time t ON t.time_sk = f.time_sk "
        "LEFT JOIN dw.dim_weather w ON w.weather_sk = f.weather_sk "
        "LEFT JOIN dw.dim_prices p ON p.price_sk = f.price_sk "
        "GROUP BY u.user_id, t.date ORDER BY 1, 2"
    )
    by = {(r[0], r[1]): r[2:] for r in keyed}
    assert by[("u1", dt.date(2026, 3, 2))] == (24, 24, 0, 24, 0)
    assert by[("u2", dt.date(2026, 3, 2))] == (24, 0, 0, 0, 0)
    assert by[("u1", dt.date(2024, 12, 10))] == (24, 0, 24, 0, 24)
    assert by[("u2", dt.date(2024, 12, 10))] == (24, 0, 24, 0, 24)

    # Re-landing the same responses and re-loading changes nothing.
    before = snapshot(q)
    with_ctx(
        s, ingest_prices, "DE-LU", dt.date(2024, 12, 10), dt.date(2024, 12, 11), body=price_body
    )
    with_ctx(s, run_pipeline)
    with_ctx(s, load_warehouse, [], full_users=True)
    assert snapshot(q) == before
