"""End to end: recorded API bodies served by httpx.MockTransport → bronze → silver (no network)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pyarrow.compute as pc
import pytest

from conftest import realdata_api, with_ctx
from wattlake.config import Settings
from wattlake.lake import catalog as cat
from wattlake.lake.catalog import (
    BRONZE_API_RESPONSES,
    SILVER_PRICES,
    SILVER_PV_POTENTIAL,
    SILVER_WEATHER,
)
from wattlake.lake.delta import Lake
from wattlake.pipeline.external import ingest_prices, ingest_pv, ingest_weather
from wattlake.sources.http import HttpClient

BODIES = {
    "/price": "energy_charts_price_DE-LU.json",
    "/v1/forecast": "open_meteo_forecast_hourly.json",
    "/v1/archive": "open_meteo_forecast_hourly.json",
    "/seriescalc": "pvgis_seriescalc_pv_10kWp.json",
}


def serve(overrides: dict[str, list[httpx.Response]] | None = None):  # type: ignore[no-untyped-def]
    """A MockTransport serving the recorded bodies by path (or scripted responses)."""
    seen: list[httpx.Request] = []
    queues = {k: list(v) for k, v in (overrides or {}).items()}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if queues.get(path):
            return queues[path].pop(0)
        for suffix, name in BODIES.items():
            if path.endswith(suffix):
                return httpx.Response(200, content=realdata_api(name))
        return httpx.Response(404)

    return httpx.MockTransport(handler), seen


def client_for(transport: httpx.MockTransport, sleeps: list[float] | None = None) -> HttpClient:
    return HttpClient(
        transport=transport, sleep=(sleeps if sleeps is not None else []).append, backoff_s=0.25
    )


def test_prices_end_to_end_and_idempotent(settings: Settings) -> None:
    transport, seen = serve()
    c = client_for(transport)
    out = with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 11),
        c,
        base_url="http://ec.test",
    )
    assert (out.status, out.rows_merged, out.new_body) == ("success", 48, True)
    assert seen[0].url.params["bzn"] == "DE-LU"
    lake = Lake(settings.home)
    silver = lake.read(SILVER_PRICES)
    assert silver.num_rows == 48
    spike = silver.filter(pc.equal(silver["price_eur_per_mwh"], 445.08)).to_pylist()[0]
    assert spike["ts"] == datetime(2024, 12, 11, 16, tzinfo=UTC)
    assert spike["price_eur_per_kwh"] == pytest.approx(0.44508)
    assert spike["source"] == "energy-charts" and spike["_batch_id"] == out.batch_id
    bronze = lake.read(BRONZE_API_RESPONSES).to_pylist()
    assert len(bronze) == 1
    assert bronze[0]["body"] == realdata_api(BODIES["/price"]).decode()
    assert bronze[0]["url"].startswith("http://ec.test/price?bzn=DE-LU")

    again = with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 11),
        c,
        base_url="http://ec.test",
    )
    assert (again.status, again.new_body) == ("success", False)
    assert lake.read(SILVER_PRICES).num_rows == 48
    assert lake.read(BRONZE_API_RESPONSES).num_rows == 1
    runs = lake.read(cat.OPS_RUNS).to_pylist()
    assert [r["status"] for r in runs] == ["success", "success"]


def test_newer_prices_replace_older_values(settings: Settings) -> None:
    doc = json.loads(realdata_api(BODIES["/price"]))
    doc["price"] = [p + 1 for p in doc["price"]]
    transport, _ = serve({"/price": [httpx.Response(200, json=doc)]})
    c = client_for(transport)
    with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 11),
        c,
        base_url="http://x",
    )
    with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 11),
        c,
        base_url="http://x",
    )
    lake = Lake(settings.home)
    silver = lake.read(SILVER_PRICES)
    assert silver.num_rows == 48
    assert pc.max(silver["price_eur_per_mwh"]).as_py() == 445.08  # the recorded body won
    assert lake.read(BRONZE_API_RESPONSES).num_rows == 2


def test_retry_429_then_503_then_200(settings: Settings) -> None:
    transport, seen = serve(
        {"/price": [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(503)]}
    )
    sleeps: list[float] = []
    out = with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 11),
        client_for(transport, sleeps),
        base_url="http://x",
    )
    assert sleeps == [1.0, 0.5]
    assert len(seen) == 3
    assert (out.status, out.rows_merged) == ("success", 48)
    assert Lake(settings.home).read(SILVER_PRICES).num_rows == 48


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"<html><body>Gateway Time-out</body></html>", "HTML page", id="html"),
        pytest.param(b'{"unix_seconds": [1, 2], "price": [1', "truncated JSON", id="truncated"),
        pytest.param(
            b'{"unix_seconds": [], "price": [], "unit": "EUR / MWh"}', "empty arrays", id="empty"
        ),
    ],
)
def test_bad_body_goes_to_dead_letter(settings: Settings, body: bytes, reason: str) -> None:
    transport, _ = serve({"/price": [httpx.Response(200, content=body)]})
    out = with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 10),
        client_for(transport),
        base_url="http://x",
    )
    assert out.status == "failed" and reason in out.message
    lake = Lake(settings.home)
    dead = lake.read(cat.OPS_DEAD_LETTER).to_pylist()
    assert len(dead) == 1
    assert dead[0]["source_file"].startswith("http://x/price?") and dead[0]["line_number"] == 0
    assert dead[0]["raw_text"] == body.decode()[:2000] and reason in dead[0]["reason"]
    runs = lake.read(cat.OPS_RUNS).to_pylist()
    assert runs[0]["status"] == "failed" and runs[0]["rows_dead_letter"] == 1
    assert lake.read(SILVER_PRICES).num_rows == 0
    assert lake.read(BRONZE_API_RESPONSES).num_rows == 1  # the raw body is still archived


def test_http_failure_is_a_failed_run_not_an_exception(settings: Settings) -> None:
    transport, seen = serve({"/price": [httpx.Response(503)] * 10})
    sleeps: list[float] = []
    out = with_ctx(
        settings,
        ingest_prices,
        "DE-LU",
        date(2024, 12, 10),
        date(2024, 12, 10),
        client_for(transport, sleeps),
        base_url="http://x",
    )
    assert out.status == "failed" and "HTTP 503" in out.message and "\n" not in out.message
    assert len(seen) == 5 and len(sleeps) == 4
    runs = Lake(settings.home).read(cat.OPS_RUNS).to_pylist()
    assert runs[0]["status"] == "failed"


def test_weather_end_to_end(settings: Settings) -> None:
    transport, seen = serve()
    c = client_for(transport)
    out = with_ctx(
        settings,
        ingest_weather,
        50.0,
        10.0,
        date(2026, 3, 2),
        date(2026, 3, 4),
        c,
        base_url="http://om.test",
        today=date(2026, 3, 2),
    )
    assert (out.status, out.rows_merged) == ("success", 72)
    assert seen[0].url.path == "/v1/forecast"
    silver = Lake(settings.home).read(SILVER_WEATHER)
    assert silver.num_rows == 72
    assert pc.min(silver["ts"]).as_py() == datetime(2026, 3, 1, 23, tzinfo=UTC)
    with_ctx(
        settings,
        ingest_weather,
        50.0,
        10.0,
        date(2026, 3, 2),
        date(2026, 3, 4),
        c,
        base_url="http://om.test",
        today=date(2026, 3, 2),
    )
    assert Lake(settings.home).read(SILVER_WEATHER).num_rows == 72


def test_weather_uses_archive_for_old_ranges(settings: Settings) -> None:
    transport, seen = serve()
    with_ctx(
        settings,
        ingest_weather,
        50.0,
        10.0,
        date(2026, 3, 2),
        date(2026, 3, 4),
        client_for(transport),
        base_url="http://om.test",
        today=date(2026, 6, 1),
    )
    assert seen[0].url.path == "/v1/archive"


def test_pv_end_to_end(settings: Settings) -> None:
    transport, seen = serve()
    out = with_ctx(
        settings,
        ingest_pv,
        45.0,
        8.0,
        2013,
        2014,
        client_for(transport),
        peak_power_kwp=10.0,
        base_url="http://pvgis.test/api/v5_3",
    )
    assert (out.status, out.rows_merged) == ("success", 10)
    assert seen[0].url.params["peakpower"] == "10.0"
    silver = Lake(settings.home).read(SILVER_PV_POTENTIAL)
    assert max(silver["p_w"].to_pylist()) == 3950.1
    assert set(silver["peak_power_kwp"].to_pylist()) == {10.0}
