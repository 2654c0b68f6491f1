"""Weather, prices and PV potential in gold: the offline demo, recompute after new external
data, real Energy-Charts prices on readings, the PVGIS fallback, DuckDB = Spark."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pvlib.location import Location

from conftest import realdata, realdata_api, sql_of, with_ctx
from wattlake.config import Settings, load_settings
from wattlake.engine import DuckDBEngine, Engine
from wattlake.generate import generate
from wattlake.generate.external import hourly_weather, open_meteo_body
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import UTC_TS
from wattlake.pipeline.checkpoints import EXTERNAL_STEP
from wattlake.pipeline.demo import DemoReport, run_demo
from wattlake.pipeline.demo_external import SYNTHETIC_BASE_URL, synthetic_external
from wattlake.pipeline.external import ingest_prices, ingest_weather
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.pipeline.steps.gold import pending_external
from wattlake.pv import modelled_production_for_users
from wattlake.query import run_sql
from wattlake.sources.http import HttpClient


def rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    return run_sql(sql_of(home), sql)[1]


def one(home: Path, sql: str) -> Any:
    return rows(home, sql)[0][0]


class NetworkUsed(BaseException):  # not an Exception: nothing may swallow it
    """A socket connection was attempted."""


@contextlib.contextmanager
def no_network() -> Iterator[list[Any]]:
    """Refuse (and record) every socket connection inside the block."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:] or kwargs)
        raise NetworkUsed(f"network access attempted: {args[1:]!r}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield attempts


def test_the_guard_stops_a_real_fetch(settings: Settings) -> None:
    with no_network() as attempts, pytest.raises(NetworkUsed):
        with_ctx(settings, ingest_prices, "DE-LU", dt.date(2024, 1, 1), dt.date(2024, 1, 1),
            base_url="http://127.0.0.1:9",
        )  # fmt: skip
    assert attempts


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, DemoReport]:
    """A small offline demo run with every socket connection refused and recorded."""
    s = load_settings(home=tmp_path_factory.mktemp("demo") / "home")
    with no_network() as attempts:
        report = with_ctx(s, run_demo, households=10, days=3, seed=5)
    assert attempts == []
    return s, report


@pytest.fixture
def demo_home(demo: tuple[Settings, DemoReport]) -> Settings:
    return demo[0]


def test_offline_demo_lands_synthetic_responses_without_network(
    demo: tuple[Settings, DemoReport],
) -> None:
    h, report = demo[0].home, demo[1]
    ext = report.external
    assert ext.mode == "synthetic" and ext.failed == []
    n_points = len(ext.points)
    assert 1 <= n_points <= 12
    assert one(h, "SELECT count(*) FROM bronze.api_responses") == n_points + 1
    assert one(
        h, f"SELECT count(*) FROM bronze.api_responses WHERE url LIKE '{SYNTHETIC_BASE_URL}/%'"
    ) == (n_points + 1)
    runs = rows(
        h,
        "SELECT step, count(*) FROM ops.runs WHERE step LIKE 'ingest_%' "
        "AND status = 'success' GROUP BY 1 ORDER BY 1",
    )
    assert runs == [("ingest_energy-charts", 1), ("ingest_open-meteo", n_points)]
    files = sorted(p.name for p in (h / "demo-input" / "api").iterdir())
    assert len(files) == n_points + 1 and files[0].startswith("energy_charts_DE-LU_")
    # 3 days + the next day's first hours (the last hour's radiation), hourly, per point
    assert one(h, "SELECT count(*) FROM silver.weather") == n_points * 4 * 24
    assert one(h, "SELECT count(*) FROM silver.prices WHERE zone = 'DE-LU'") == 3 * 24
    for name in ("weather grid points", "enriched readings (gold)", "modelled PV hours (gold)"):
        assert name in report.figures


def test_every_reading_enriched_once_with_its_hours_weather(demo_home: Settings) -> None:
    h = demo_home.home
    assert one(h, "SELECT count(*) FROM gold.readings_enriched") == one(
        h, "SELECT count(*) FROM silver.meter_readings"
    )
    assert (
        one(
            h,
            "SELECT count(*) FROM silver.meter_readings s ANTI JOIN gold.readings_enriched e "
            "ON s.meter_id = e.meter_id AND s.ts = e.ts",
        )
        == 0
    )
    # All demo users are within 50 km of a grid point; prices cover every interval. The
    # smart-meter-etl meterpoints have no location: no weather, but still a price.
    sme = "SELECT meterpoint_id FROM silver.meterpoints"
    assert (
        one(
            h,
            "SELECT count(*) FROM gold.readings_enriched "
            "WHERE (temperature_c IS NULL OR price_eur_per_kwh IS NULL OR ghi_w_m2 IS NULL) "
            f"AND meter_id NOT IN ({sme})",
        )
        == 0
    )
    assert one(
        h,
        "SELECT count(*) = count(price_eur_per_kwh) AND count(temperature_c) = 0 "
        f"FROM gold.readings_enriched WHERE meter_id IN ({sme})",
    )
    mismatches = one(
        h,
        """SELECT count(*) FROM gold.readings_enriched e JOIN silver.weather w
           ON w.latitude = e.weather_latitude AND w.longitude = e.weather_longitude
          AND w.ts = date_trunc('hour', e.ts)
           WHERE w.temperature_c <> e.temperature_c OR w.cloud_cover_pct <> e.cloud_cover_pct""",
    )
    assert mismatches == 0
    assert (
        one(
            h,
            "SELECT count(*) FROM gold.readings_enriched "
            "WHERE abs(cost_eur - kwh * price_eur_per_kwh) > 1e-6 OR price_zone <> 'DE-LU'",
        )
        == 0
    )


def test_modelled_pv_per_prosumer_next_to_metered(demo_home: Settings) -> None:
    h = demo_home.home
    prosumers = {
        r[0]
        for r in rows(h, "SELECT DISTINCT user_id FROM silver.user_profiles WHERE panel_kwp > 0")
    }
    modelled = {r[0] for r in rows(h, "SELECT DISTINCT user_id FROM gold.pv_modelled_hourly")}
    assert modelled and modelled <= prosumers
    assert rows(h, "SELECT DISTINCT model_input FROM gold.pv_modelled_hourly") == [("weather",)]
    night = one(
        h, "SELECT max(modelled_kwh) FROM gold.pv_modelled_hourly WHERE hour(hour_ts) IN (0, 1, 2)"
    )
    assert night == 0.0
    day = one(
        h,
        "SELECT sum(modelled_kwh), sum(metered_kwh) FROM gold.pv_modelled_hourly "
        "WHERE metered_kwh IS NOT NULL",
    )
    assert day > 0
    # difference and ratio are consistent with the two sides
    assert (
        one(
            h,
            "SELECT count(*) FROM gold.pv_modelled_hourly WHERE "
            "abs(difference_kwh - (metered_kwh - modelled_kwh)) > 1e-4 OR "
            "(modelled_kwh >= 0.01 AND abs(performance_ratio - metered_kwh / modelled_kwh) > 1e-4)",
        )
        == 0
    )


def _extreme_body(home: Path, lat: float, lon: float, day: dt.date, hot: set[int]) -> bytes:
    """The grid point's silver weather of `day` as an Open-Meteo body, `hot` hours at 40 °C."""
    t = Lake(home).read(cat.SILVER_WEATHER).to_pandas()
    t = t[(t.latitude == lat) & (t.longitude == lon)]
    t = t[pd.DatetimeIndex(t.ts).date == day].sort_values("ts").set_index("ts")
    t.loc[t.index.hour.isin(sorted(hot)), "temperature_c"] = 40.0
    hourly = pd.DataFrame(
        {
            "temperature_2m": t.temperature_c,
            "cloud_cover": t.cloud_cover_pct,
            "shortwave_radiation": t.ghi_w_m2,
            "direct_radiation": t.direct_w_m2,
            "diffuse_radiation": t.dhi_w_m2,
            "direct_normal_irradiance": t.dni_w_m2,
            "wind_speed_10m": t.wind_speed_m_s,
        },
        index=pd.DatetimeIndex(t.index),
    )
    return open_meteo_body(lat, lon, hourly)


def test_new_weather_recomputes_its_dates_and_drops_extreme_hours_from_peaks(
    demo_home: Settings, tmp_path: Path
) -> None:
    s = load_settings(home=tmp_path / "home")
    shutil.copytree(demo_home.home, s.home)
    h = s.home
    quiet = with_ctx(s, run_pipeline)
    assert quiet.step("gold").message == "silver unchanged"
    day = dt.date(2024, 3, 2)
    peaks_before = rows(h, f"SELECT hour, peak_rank FROM gold.peak_hours WHERE date = '{day}'")
    other_before = rows(h, "SELECT * FROM gold.peak_hours WHERE date <> '2024-03-02' ORDER BY 1, 2")
    hot = {hr for hr, _ in peaks_before}
    lat, lon = rows(
        h,
        "SELECT weather_latitude, weather_longitude FROM gold.readings_enriched "
        "WHERE weather_latitude IS NOT NULL GROUP BY ALL ORDER BY count(*) DESC LIMIT 1",
    )[0]
    out = with_ctx(s, ingest_weather, lat, lon, day, day, kind="archive", base_url="synthetic://test",
        body=_extreme_body(h, lat, lon, day, hot),
    )  # fmt: skip
    assert out.status == "success" and out.rows_merged == 24
    assert set(pending_external(Lake(h), set())) >= {out.run_id}

    summary = with_ctx(s, run_pipeline)
    # Label 00:00 of the day carries the radiation of 23:00 the day before: two dates.
    assert summary.step("gold").message.startswith("2 date(s) recomputed")
    peaks_after = rows(h, f"SELECT hour FROM gold.peak_hours WHERE date = '{day}'")
    assert peaks_after and hot.isdisjoint(hr for (hr,) in peaks_after)
    assert rows(h, "SELECT * FROM gold.peak_hours WHERE date <> '2024-03-02' ORDER BY 1, 2") == (
        other_before
    )
    flagged = rows(
        h,
        f"SELECT DISTINCT hour(ts), temperature_c, is_extreme_weather FROM gold.readings_enriched "
        f"WHERE weather_latitude = {lat} AND weather_longitude = {lon} AND date = '{day}' "
        f"AND hour(ts) IN {tuple(sorted(hot))} ORDER BY 1",
    )
    assert [(hr, t, x) for hr, t, x in flagged] == [(hr, 40.0, True) for hr in sorted(hot)]
    assert with_ctx(s, run_pipeline).step("gold").message == "silver unchanged"


def test_recorded_energy_charts_prices_on_readings(tmp_path: Path) -> None:
    """The real DE-LU response (incl. 445.08 EUR/MWh at 2024-12-11 16:00 UTC) on readings."""
    body_path = realdata("apis/energy_charts_price_DE-LU.json")
    gen = generate(tmp_path / "in", 3, 3, seed=2, start=dt.date(2024, 12, 10))
    s = load_settings(home=tmp_path / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    first = with_ctx(
        s,
        ingest_prices,
        "DE-LU",
        dt.date(2024, 12, 10),
        dt.date(2024, 12, 11),
        body=body_path.read_bytes(),
    )
    assert first.status == "success" and first.rows_merged == 48
    assert first.url.startswith("https://api.energy-charts.info/price?bzn=DE-LU")
    lake = Lake(s.home)
    ck = lake.read(cat.OPS_CHECKPOINTS)
    marks = ck.filter(pc.equal(ck["step"], EXTERNAL_STEP))
    assert marks.select(["batch_id", "run_id"]).to_pylist() == [
        {"batch_id": first.batch_id, "run_id": first.run_id}
    ]
    again = with_ctx(
        s,
        ingest_prices,
        "DE-LU",
        dt.date(2024, 12, 10),
        dt.date(2024, 12, 11),
        body=body_path.read_bytes(),
    )
    assert not again.new_body and pending_external(lake, set()) == {again.run_id: [first.batch_id]}

    with_ctx(s, run_pipeline)
    spike = rows(
        s.home,
        "SELECT ts, kwh, price_eur_per_kwh, cost_eur FROM gold.readings_enriched "
        "WHERE meter_id = 'MAC000001' AND ts IN ('2024-12-11 16:00:00+00', "
        "'2024-12-11 16:30:00+00') ORDER BY ts",
    )
    assert [r[2] for r in spike] == [pytest.approx(0.44508)] * 2
    assert all(r[3] == pytest.approx(round(r[1] * 0.44508, 6)) for r in spike)
    by_date = dict(
        rows(
            s.home,
            "SELECT date, count(price_eur_per_kwh) FROM gold.readings_enriched GROUP BY 1",
        )
    )
    # The response covers 2024-12-09 23:00 to 2024-12-11 23:00 UTC: the 12th has no price,
    # and its readings stay (NULL price).
    assert by_date[dt.date(2024, 12, 12)] == 0 and by_date[dt.date(2024, 12, 10)] > 0
    ck = lake.read(cat.OPS_CHECKPOINTS)
    applied = set(ck.filter(pc.equal(ck["step"], "gold"))["batch_id"].to_pylist())
    assert again.run_id in applied and pending_external(lake, applied) == {}


def _horizontal_pvgis_rows(weather: pd.DataFrame, lat: float, lon: float) -> pa.Table:
    """PVGIS-style rows of a horizontal system (beam and diffuse on the horizontal) for the
    hour before each Open-Meteo label, stamped HH:10 like PVGIS."""
    labels = pd.DatetimeIndex(weather.index)
    stamps = labels - pd.Timedelta(minutes=50)
    elev = Location(lat, lon, tz="UTC").get_solarposition(stamps)["apparent_elevation"]
    n = len(stamps)
    return pa.table(
        {
            "latitude": [lat] * n,
            "longitude": [lon] * n,
            "ts": pa.array(stamps.to_pydatetime(), UTC_TS),
            "p_w": [None] * n,
            "poa_global_w_m2": weather["shortwave_radiation"].to_numpy(),
            "poa_direct_w_m2": weather["direct_radiation"].to_numpy(),
            "poa_sky_diffuse_w_m2": weather["diffuse_radiation"].to_numpy(),
            "poa_ground_diffuse_w_m2": [0.0] * n,
            "solar_elevation_deg": elev.clip(lower=0.0).to_numpy(),
            "temp_air_c": weather["temperature_2m"].to_numpy(),
            "wind_speed_m_s": weather["wind_speed_10m"].to_numpy(),
            "reconstructed": [False] * n,
            "peak_power_kwp": [1.0] * n,
            "tilt_deg": [0.0] * n,
            "azimuth_deg": [0.0] * n,
            "source": ["pvgis"] * n,
            "_batch_id": ["bpvgis-test"] * n,
        }
    )


def test_pv_potential_models_the_hours_without_weather(tmp_path: Path) -> None:
    """Weather for day 1 only, PVGIS-style irradiance for both days: day 1 is modelled from
    the weather, day 2 from the PV potential, with about the same energy for the same sun."""
    gen = generate(tmp_path / "in", 12, 2, seed=11)
    s = load_settings(home=tmp_path / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    lat, lon = 51.5, -0.25
    assert gen.weather is not None
    hourly = hourly_weather(
        lat, lon, gen.start, 3, np.append(gen.weather.temperature_c, 8.0),
        np.array([0.8, 0.8, 0.8]), np.random.default_rng(0),
    )  # fmt: skip
    day1 = hourly[hourly.index <= pd.Timestamp("2024-03-02 00:00", tz="UTC")]
    out = with_ctx(s, ingest_weather, lat, lon, gen.start, gen.start, kind="archive", base_url="synthetic://t",
        body=open_meteo_body(lat, lon, day1),
    )  # fmt: skip
    assert out.status == "success"
    Lake(s.home).append(cat.SILVER_PV_POTENTIAL, _horizontal_pvgis_rows(hourly, lat, lon))
    with_ctx(s, run_pipeline)

    got = Lake(s.home).read(cat.GOLD_PV_MODELLED).to_pandas()
    by_input = got.groupby([got.date, got.model_input])["modelled_kwh"].sum()
    assert set(by_input.index) == {
        (dt.date(2024, 3, 1), "weather"),
        (dt.date(2024, 3, 2), "pv_potential"),
    }
    assert got.groupby(["user_id", "hour_ts"]).size().max() == 1
    # Same sun both ways: the PV potential path gives the weather path's energy within 5 %.
    prof = Lake(s.home).read(cat.SILVER_USERS).to_pandas()
    w = Lake(s.home).read(cat.SILVER_WEATHER).to_pandas()
    both = hourly.rename(
        columns={
            "temperature_2m": "temperature_c",
            "shortwave_radiation": "ghi_w_m2",
            "direct_radiation": "direct_w_m2",
            "diffuse_radiation": "dhi_w_m2",
            "wind_speed_10m": "wind_speed_m_s",
        }
    ).assign(latitude=lat, longitude=lon, ts=hourly.index)
    ref = modelled_production_for_users(prof, both, max_distance_km=50.0)
    ref_day2 = ref[pd.DatetimeIndex(ref.ts).date == dt.date(2024, 3, 2)].modelled_kwh.sum()
    assert by_input[(dt.date(2024, 3, 2), "pv_potential")] == pytest.approx(ref_day2, rel=0.05)
    assert not w.empty


@pytest.mark.spark
def test_external_gold_same_on_duckdb_and_spark(tmp_path: Path, spark: Engine) -> None:
    gen = generate(tmp_path / "in", 8, 2, seed=4, faults=True)
    a = load_settings(home=tmp_path / "duck")
    with_ctx(a, ingest_files, [gen.users_file, *gen.files])
    with_ctx(a, synthetic_external, gen, 4, tmp_path / "api")
    b = load_settings(home=tmp_path / "spark")
    shutil.copytree(a.home, b.home)
    with_ctx(a, run_pipeline, engine=DuckDBEngine())
    with_ctx(b, run_pipeline, engine=spark)
    for spec in (cat.GOLD_READINGS_ENRICHED, cat.GOLD_PV_MODELLED, cat.GOLD_PEAK_HOURS):
        ra, rb = (
            sorted(
                Lake(home).read(spec).to_pylist(),
                key=lambda r: tuple("" if v is None else str(v) for v in r.values()),
            )
            for home in (a.home, b.home)
        )
        assert len(ra) == len(rb) > 0, spec.qualified
        for x, y in zip(ra, rb, strict=True):
            for k in x:
                if isinstance(x[k], float):
                    assert x[k] == pytest.approx(y[k], rel=1e-9, abs=1e-9), (spec.qualified, k)
                else:
                    assert x[k] == y[k], (spec.qualified, k, x, y)


def test_online_demo_fetches_through_the_client(tmp_path: Path) -> None:
    """`--online` path with the recorded real responses served by a MockTransport: one
    archive request per grid point, one price and one PVGIS request, all landed."""
    bodies = {
        "/v1/archive": "open_meteo_forecast_hourly.json",
        "/price": "energy_charts_price_DE-LU.json",
        "/seriescalc": "pvgis_seriescalc_pv_10kWp.json",
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        name = next(b for suffix, b in bodies.items() if request.url.path.endswith(suffix))
        return httpx.Response(200, content=realdata_api(name))

    client = HttpClient(transport=httpx.MockTransport(handler))
    s = load_settings(home=tmp_path / "home")
    with no_network() as attempts:
        report = with_ctx(s, run_demo, households=6, days=2, seed=1, online=True, client=client)
    assert attempts == []
    ext = report.external
    assert ext is not None and ext.mode == "online" and ext.failed == []
    paths = [r.url.path for r in seen]
    assert paths.count("/v1/archive") == len(ext.points)
    assert paths[-2:] == ["/price", "/api/v5_3/seriescalc"]
    archive = seen[0].url.params
    assert (archive["start_date"], archive["end_date"]) == ("2024-03-01", "2024-03-03")
    pvgis = seen[-1].url.params
    assert (pvgis["startyear"], pvgis["peakpower"], pvgis["angle"]) == ("2023", "1.0", "35.0")
    assert seen[-2].url.params["bzn"] == "DE-LU"
    h = s.home
    assert one(h, "SELECT count(*) FROM silver.pv_potential") == 10
    # The recorded bodies are for other places and days: no reading gets weather or a
    # price, and none is dropped.
    assert one(h, "SELECT count(*) FROM gold.readings_enriched") == one(
        h, "SELECT count(*) FROM silver.meter_readings"
    )
    assert one(h, "SELECT count(temperature_c) + count(price_eur_per_kwh) "
                  "FROM gold.readings_enriched") == 0  # fmt: skip


def test_cli_demo_has_an_online_switch(tmp_path: Path) -> None:
    from test_cli import wl

    r = wl("demo", "--help", home=tmp_path / "home")
    assert r.returncode == 0 and "--online" in r.stdout and "Open-Meteo" in r.stdout
