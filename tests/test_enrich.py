"""Enrichment of readings with weather and prices (`wattlake.transforms.enrich`)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa
import pytest

from wattlake.engine import Engine
from wattlake.geo import haversine_expr
from wattlake.lake.spec import UTC_TS
from wattlake.transforms import enrich

_N = itertools.count()
ZONE = "DE-LU"
LONDON = (51.5, -0.12)
BERLIN = (52.5, 13.4)


def at(hhmm: str, day: int = 1) -> dt.datetime:
    """2024-07-<day> hh:mm UTC."""
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(2024, 7, day, h, m, tzinfo=dt.UTC)


def table(engine: Engine, rows: list[dict[str, Any]], schema: pa.Schema) -> ir.Table:
    data = pa.Table.from_pylist(rows, schema=schema)
    return engine.con.create_table(f"enrich_t{next(_N)}", data, overwrite=True)


READINGS = pa.schema([("meter_id", pa.string()), ("ts", UTC_TS), ("kwh", pa.float64())])
USERS = pa.schema(
    [
        ("user_id", pa.string()),
        ("meter_id", pa.string()),
        ("pv_meter_id", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("effective_date", pa.date32()),
    ]
)
WEATHER = pa.schema(
    [
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts", UTC_TS),
        ("temperature_c", pa.float64()),
        ("cloud_cover_pct", pa.float64()),
        ("ghi_w_m2", pa.float64()),
    ]
)
PRICES = pa.schema(
    [
        ("zone", pa.string()),
        ("ts", UTC_TS),
        ("price_eur_per_kwh", pa.float64()),
        ("resolution_minutes", pa.int32()),
    ]
)


def wx(loc: tuple[float, float], hhmm: str, temp: float, ghi: float, cloud: float = 50.0):
    return {
        "latitude": loc[0],
        "longitude": loc[1],
        "ts": at(hhmm),
        "temperature_c": temp,
        "cloud_cover_pct": cloud,
        "ghi_w_m2": ghi,
    }


def px(hhmm: str, price: float, res: int = 60, zone: str = ZONE) -> dict[str, Any]:
    return {"zone": zone, "ts": at(hhmm), "price_eur_per_kwh": price, "resolution_minutes": res}


USER_ROWS = [
    # m1 lives in London, its PV meter pv1 too; m2 in Berlin; m9 has no profile.
    {"user_id": "u1", "meter_id": "m1", "pv_meter_id": "pv1", "latitude": 51.45,
     "longitude": -0.2, "effective_date": dt.date(2024, 1, 1)},
    {"user_id": "u2", "meter_id": "m2", "pv_meter_id": None, "latitude": 52.4,
     "longitude": 13.3, "effective_date": dt.date(2024, 1, 1)},
]  # fmt: skip
WEATHER_ROWS = [
    wx(LONDON, "10:00", 20.0, 100.0, cloud=10.0),
    wx(LONDON, "11:00", 21.0, 300.0, cloud=20.0),  # ghi = mean over 10:00-11:00
    wx(LONDON, "12:00", 36.0, 500.0),
    wx(LONDON, "13:00", 35.0, 450.0),
    wx(BERLIN, "10:00", -11.0, 0.0),
    wx(BERLIN, "11:00", -10.0, 50.0),
    wx(BERLIN, "12:00", -9.0, 60.0),
]
PRICE_ROWS = [
    px("10:00", 0.10),  # hourly
    px("11:00", 0.20, res=15),
    px("11:15", 0.21, res=15),
    px("11:30", 0.22, res=15),
    px("11:45", 0.23, res=15),
    px("12:00", 0.30),  # an hourly and a 15-minute row both cover 12:00-12:15
    px("12:00", 0.31, res=15),
    px("10:00", 9.99, zone="FR"),
]


def enrich_one(duck: Engine, meter: str, hhmm: str) -> dict[str, Any]:
    out = enrich.enrich_readings(
        table(duck, [{"meter_id": meter, "ts": at(hhmm), "kwh": 0.5}], READINGS),
        table(duck, USER_ROWS, USERS),
        table(duck, WEATHER_ROWS, WEATHER),
        table(duck, PRICE_ROWS, PRICES),
        ZONE,
    )
    rows = duck.to_arrow(out).to_pylist()
    assert len(rows) == 1
    return rows[0]


NULL = None
CASES = [
    pytest.param("m1", "10:30", dict(temperature_c=20.0, ghi_w_m2=300.0, cloud_cover_pct=10.0),
                 id="reading_at_30_gets_hours_weather_and_next_labels_radiation"),
    pytest.param("m1", "10:00", dict(temperature_c=20.0, ghi_w_m2=300.0, price_eur_per_kwh=0.10),
                 id="reading_on_the_hour"),
    pytest.param("m1", "10:30", dict(price_eur_per_kwh=0.10, cost_eur=0.05),
                 id="hourly_price_covers_half_hour"),
    pytest.param("m1", "11:45", dict(price_eur_per_kwh=0.23), id="quarter_hour_price"),
    pytest.param("m1", "11:30", dict(price_eur_per_kwh=0.22),
                 id="half_hour_reading_takes_price_of_its_start_quarter"),
    pytest.param("m1", "12:00", dict(price_eur_per_kwh=0.31), id="finest_price_resolution_wins"),
    pytest.param("m1", "13:15", dict(price_eur_per_kwh=NULL, cost_eur=NULL), id="no_price_null"),
    pytest.param("m1", "14:00", dict(temperature_c=NULL, ghi_w_m2=NULL, is_extreme_weather=NULL),
                 id="missing_weather_null"),
    pytest.param("m1", "13:00", dict(temperature_c=35.0, ghi_w_m2=NULL, is_extreme_weather=False),
                 id="exactly_35_not_extreme_and_no_next_radiation"),
    pytest.param("m1", "12:15", dict(temperature_c=36.0, is_extreme_weather=True),
                 id="hot_hour_extreme"),
    pytest.param("m2", "10:45", dict(temperature_c=-11.0, ghi_w_m2=50.0, is_extreme_weather=True),
                 id="cold_hour_extreme_nearest_is_berlin"),
    pytest.param("m2", "11:00", dict(temperature_c=-10.0, is_extreme_weather=False),
                 id="exactly_minus_10_not_extreme"),
    pytest.param("pv1", "10:30", dict(weather_latitude=LONDON[0], temperature_c=20.0),
                 id="pv_meter_gets_users_weather"),
    pytest.param("m9", "10:30", dict(weather_latitude=NULL, temperature_c=NULL,
                                     price_eur_per_kwh=0.10), id="meter_without_profile"),
]  # fmt: skip


@pytest.mark.parametrize(("meter", "hhmm", "expected"), CASES)
def test_enrich_readings_cases(
    duck: Engine, meter: str, hhmm: str, expected: dict[str, Any]
) -> None:
    row = enrich_one(duck, meter, hhmm)
    for col, want in expected.items():
        got = row[col]
        if want is None or isinstance(want, bool):
            assert got is want, (col, got)
        else:
            assert got == pytest.approx(want), (col, got)


def test_enrich_keeps_every_reading_once_and_silver_columns(duck: Engine) -> None:
    readings = [
        {"meter_id": m, "ts": at(f"{h:02d}:{mm:02d}"), "kwh": 0.1}
        for m in ("m1", "m2", "pv1", "m9")
        for h in range(9, 15)
        for mm in (0, 15, 30, 45)
    ]
    # A second version of u1 (moved to Berlin) and a duplicate weather point set.
    users = [*USER_ROWS, {**USER_ROWS[0], "latitude": 52.51, "longitude": 13.41,
                          "effective_date": dt.date(2024, 6, 1)}]  # fmt: skip
    out = enrich.enrich_readings(
        table(duck, readings, READINGS),
        table(duck, users, USERS),
        table(duck, WEATHER_ROWS, WEATHER),
        table(duck, PRICE_ROWS, PRICES),
        ZONE,
    )
    got = duck.to_arrow(out)
    assert got.num_rows == len(readings)
    assert got.column_names[:3] == ["meter_id", "ts", "kwh"]
    keys = {(r["meter_id"], r["ts"]) for r in got.to_pylist()}
    assert len(keys) == len(readings)
    m1 = [r for r in got.to_pylist() if r["meter_id"] == "m1"]
    assert {r["weather_latitude"] for r in m1} == {BERLIN[0]}  # latest profile version


@pytest.mark.parametrize(
    ("user", "max_km", "expected"),
    [
        pytest.param((51.45, -0.2), None, LONDON, id="near_london"),
        pytest.param((52.0, 10.0), None, BERLIN, id="between_picks_nearer_berlin"),
        pytest.param((48.1, 11.6), 100.0, None, id="munich_beyond_max_distance"),
        pytest.param((48.1, 11.6), 600.0, BERLIN, id="munich_within_max_distance"),
    ],
)
def test_nearest_weather_location(
    duck: Engine,
    user: tuple[float, float],
    max_km: float | None,
    expected: tuple[float, float] | None,
) -> None:
    users = table(duck, [{**USER_ROWS[0], "latitude": user[0], "longitude": user[1]}], USERS)
    out = duck.to_arrow(
        enrich.nearest_weather_location(
            users, table(duck, WEATHER_ROWS, WEATHER), max_distance_km=max_km
        )
    ).to_pylist()
    if expected is None:
        assert out == []
    else:
        assert len(out) == 1
        assert (out[0]["weather_latitude"], out[0]["weather_longitude"]) == expected


def test_nearest_across_the_antimeridian(duck: Engine) -> None:
    grid = table(
        duck, [wx((51.5, -179.9), "10:00", 0, 0), wx((51.5, 170.0), "10:00", 0, 0)], WEATHER
    )
    users = table(duck, [{**USER_ROWS[0], "latitude": 51.5, "longitude": 179.9}], USERS)
    out = duck.to_arrow(enrich.nearest_weather_location(users, grid)).to_pylist()
    assert out[0]["weather_longitude"] == -179.9
    assert out[0]["distance_km"] == pytest.approx(13.8, abs=0.5)  # 0.2° of longitude at 51.5°


def test_haversine_london_berlin(duck: Engine) -> None:
    t = table(duck, [wx(LONDON, "10:00", 0.0, 0.0)], WEATHER)
    d = duck.to_arrow(t.select(d=haversine_expr(t.latitude, t.longitude, BERLIN[0], BERLIN[1])))[
        "d"
    ][0].as_py()
    assert d == pytest.approx(931.0, abs=5.0)  # great-circle London–Berlin


def test_exclude_extreme_weather_drops_whole_hours(duck: Engine) -> None:
    readings = [
        {"meter_id": m, "ts": at(f"{h:02d}:{mm:02d}"), "kwh": 0.1}
        for m in ("m1", "m2")
        for h in (10, 11, 12, 13)
        for mm in (0, 30)
    ]
    silver = table(duck, readings, READINGS)
    enriched = enrich.enrich_readings(
        silver,
        table(duck, USER_ROWS, USERS),
        table(duck, WEATHER_ROWS, WEATHER),
        table(duck, PRICE_ROWS, PRICES),
        ZONE,
    )
    # hour_ts is a naive UTC timestamp (like gold's; `conform` makes it UTC on write).
    bad = sorted(
        r["hour_ts"].replace(tzinfo=dt.UTC)
        for r in duck.to_arrow(enrich.extreme_weather_hours(enriched)).to_pylist()
    )
    assert bad == [at("10:00"), at("12:00")]  # Berlin -11 °C at 10:00, London 36 °C at 12:00
    kept = duck.to_arrow(enrich.exclude_extreme_weather(silver, enriched)).to_pylist()
    assert {r["ts"].hour for r in kept} == {11, 13}
    assert len(kept) == 8  # both meters dropped in a bad hour, not only the affected one
    hourly = table(
        duck,
        [{"meter_id": "all", "ts": at(f"{h}:00"), "kwh": 1.0} for h in (10, 11, 12, 13)],
        READINGS,
    ).rename(hour_ts="ts")
    kept_h = duck.to_arrow(enrich.exclude_extreme_weather(hourly, enriched, "hour_ts"))
    assert sorted(t.hour for t in kept_h["hour_ts"].to_pylist()) == [11, 13]


def test_modelled_vs_metered_pv(duck: Engine) -> None:
    modelled = table(
        duck,
        [
            {"meter_id": "u1", "ts": at("10:00"), "kwh": 2.0},
            {"meter_id": "u1", "ts": at("11:00"), "kwh": 0.005},
            {"meter_id": "u1", "ts": at("12:00"), "kwh": 1.0},
        ],
        READINGS,
    ).rename(user_id="meter_id", modelled_kwh="kwh")
    flow = table(
        duck,
        [
            {"meter_id": "u1", "ts": at("10:00"), "kwh": 1.8},
            {"meter_id": "u1", "ts": at("11:00"), "kwh": 0.0},
        ],
        READINGS,
    ).rename(user_id="meter_id", hour_ts="ts", production_kwh="kwh")
    out = duck.to_arrow(enrich.modelled_vs_metered_pv(modelled, flow).order_by("hour_ts"))
    rows = out.to_pylist()
    assert [r["metered_kwh"] for r in rows] == [1.8, 0.0, None]
    assert rows[0]["difference_kwh"] == pytest.approx(-0.2)
    assert rows[0]["performance_ratio"] == pytest.approx(0.9)
    assert rows[1]["performance_ratio"] is None  # modelled < 0.01 kWh
    assert rows[0]["date"] == dt.date(2024, 7, 1)


@pytest.mark.spark
def test_enrich_same_on_spark(duck: Engine, spark: Engine, tmp_path: Path) -> None:
    """The enrichment gives identical rows on DuckDB and Spark."""
    import pyarrow.parquet as pq

    readings = [
        {"meter_id": m, "ts": at(f"{h:02d}:{mm:02d}"), "kwh": 0.1}
        for m in ("m1", "m2", "pv1", "m9")
        for h in range(9, 15)
        for mm in (0, 15, 30, 45)
    ]
    inputs = [
        (readings, READINGS),
        (USER_ROWS, USERS),
        (WEATHER_ROWS, WEATHER),
        (PRICE_ROWS, PRICES),
    ]

    def spark_table(rows: list[dict[str, Any]], schema: pa.Schema) -> ir.Table:
        path = tmp_path / f"t{next(_N)}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        name = path.stem
        spark.spark.read.parquet(str(path)).createOrReplaceTempView(name)  # type: ignore[attr-defined]
        return spark.con.table(name)

    def norm(v: Any) -> Any:
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            return v.astimezone(dt.UTC).replace(tzinfo=None)  # Spark returns naive UTC
        if isinstance(v, float) and not math.isnan(v):
            return round(v, 9)
        return v

    def run(eng: Engine, make: Any) -> list[tuple[Any, ...]]:
        out = enrich.enrich_readings(*(make(r, s) for r, s in inputs), ZONE)
        rows = eng.to_arrow(out).to_pylist()
        return sorted((tuple(norm(v) for v in r.values()) for r in rows), key=repr)

    def duck_table(rows: list[dict[str, Any]], schema: pa.Schema) -> ir.Table:
        return table(duck, rows, schema)

    assert run(spark, spark_table) == run(duck, duck_table)


def test_runs_on_the_lake_table_schemas(duck: Engine) -> None:
    """The real silver specs plug in unchanged (column names and types)."""
    from wattlake.lake import catalog as tbl

    def empty(spec: tbl.TableSpec) -> ir.Table:
        data = spec.arrow_schema.empty_table()
        return duck.con.create_table(f"enrich_t{next(_N)}", data, overwrite=True)

    users = empty(tbl.SILVER_USERS)
    silver = empty(tbl.SILVER_READINGS)
    weather = empty(tbl.SILVER_WEATHER)
    out = enrich.enrich_readings(silver, users, weather, empty(tbl.SILVER_PRICES), ZONE)
    got = duck.to_arrow(out)
    assert got.column_names[: len(tbl.SILVER_READINGS.columns)] == tbl.SILVER_READINGS.column_names
    assert got.num_rows == 0
    assert duck.to_arrow(enrich.exclude_extreme_weather(silver, out)).num_rows == 0
    flow = empty(tbl.GOLD_FLOW_HOURLY)
    modelled = duck.con.create_table(
        f"enrich_t{next(_N)}",
        pa.schema(
            [("user_id", pa.string()), ("ts", UTC_TS), ("modelled_kwh", pa.float64())]
        ).empty_table(),
        overwrite=True,
    )
    assert duck.to_arrow(enrich.modelled_vs_metered_pv(modelled, flow)).num_rows == 0
