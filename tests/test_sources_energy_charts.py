"""Energy-Charts `/price`: the recorded real response, synthetic edge cases, the request."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from conftest import realdata
from wattlake.errors import InputError
from wattlake.sources.energy_charts import (
    get_prices,
    infer_resolution_minutes,
    parse_prices,
    price_request,
    read_prices,
    row_resolutions_minutes,
)
from wattlake.sources.http import HttpClient, ResponseError

RECORDED = realdata("apis/energy_charts_price_DE-LU.json")

T0 = 1733785200  # 2024-12-09 23:00 UTC


def body(**over: object) -> bytes:
    doc: dict[str, object] = {
        "license_info": "CC BY 4.0",
        "unix_seconds": [T0, T0 + 3600, T0 + 7200],
        "price": [92.85, 89.33, 86.5],
        "unit": "EUR / MWh",
        "deprecated": False,
    }
    doc.update(over)
    return json.dumps(doc).encode()


def test_recorded_response_parses() -> None:
    t = parse_prices(read_prices(RECORDED), "DE-LU")
    assert t.num_rows == 48
    rows = t.to_pylist()
    assert rows[0]["ts"] == datetime(2024, 12, 9, 23, tzinfo=UTC)
    assert rows[-1]["ts"] == datetime(2024, 12, 11, 22, tzinfo=UTC)
    spike = max(rows, key=lambda r: r["price_eur_per_mwh"])
    assert spike["price_eur_per_mwh"] == 445.08
    assert spike["ts"] == datetime(2024, 12, 11, 16, tzinfo=UTC)  # 17:00 CET
    assert spike["price_eur_per_kwh"] == pytest.approx(0.44508)
    assert set(t["resolution_minutes"].to_pylist()) == {60}
    assert set(t["zone"].to_pylist()) == {"DE-LU"}
    assert str(t.schema.field("ts").type) == "timestamp[us, tz=UTC]"


def test_quarter_hour_response_is_recognised() -> None:
    secs = [T0 + 900 * i for i in range(8)]
    t = parse_prices(body(unix_seconds=secs, price=[float(i) for i in range(8)]), "DE-LU")
    assert set(t["resolution_minutes"].to_pylist()) == {15}
    assert t["ts"][1].as_py() == datetime(2024, 12, 9, 23, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("secs", "minutes"),
    [
        pytest.param([T0], 60, id="single_point_defaults_to_hourly"),
        pytest.param([T0, T0 + 3600, T0 + 7200], 60, id="hourly"),
        pytest.param([T0, T0 + 900, T0 + 1800, T0 + 5400], 15, id="quarter_hour_with_gap"),
        pytest.param([T0, T0 + 1800, T0 + 3600], 30, id="half_hour"),
    ],
)
def test_infer_resolution(secs: list[int], minutes: int) -> None:
    assert infer_resolution_minutes(secs) == minutes


H, Q = 3600, 900


@pytest.mark.parametrize(
    ("secs", "minutes"),
    [
        pytest.param([T0], [60], id="single_point"),
        pytest.param([T0, T0 + H, T0 + 2 * H], [60, 60, 60], id="hourly"),
        pytest.param(
            [T0, T0 + H, T0 + 2 * H, T0 + 2 * H + Q, T0 + 2 * H + 2 * Q],
            [60, 60, 15, 15, 15],
            id="hourly_then_quarter_hours",
        ),
        pytest.param([T0, T0 + Q, T0 + 4 * Q, T0 + 5 * Q], [15, 15, 15, 15], id="gap_keeps_15"),
        pytest.param([T0, T0 + 2 * H, T0 + 3 * H, T0 + 4 * H], [60, 60, 60, 60], id="first_gap"),
    ],
)
def test_row_resolutions(secs: list[int], minutes: list[int]) -> None:
    assert row_resolutions_minutes(secs) == minutes


def test_response_across_the_move_to_quarter_hours() -> None:
    switch = int(datetime(2025, 10, 1, tzinfo=UTC).timestamp())
    secs = [switch - 2 * H, switch - H, *(switch + Q * i for i in range(4))]
    t = parse_prices(body(unix_seconds=secs, price=[1.0] * 6), "DE-LU")
    assert t["resolution_minutes"].to_pylist() == [60, 60, 15, 15, 15, 15]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"<html><body>Bad Gateway</body></html>", "HTML page", id="html_error_page"),
        pytest.param(body()[:40], "truncated JSON", id="truncated_json"),
        pytest.param(b"", "empty response body", id="empty_body"),
        pytest.param(b"[1, 2]", "expected a JSON object", id="not_an_object"),
        pytest.param(
            json.dumps({"detail": "no data for bzn XX"}).encode(),
            "missing key(s) unix_seconds, price, unit (API said: no data for bzn XX)",
            id="missing_keys_with_detail",
        ),
        pytest.param(body(unit="EUR / kWh"), "unexpected unit 'EUR / kWh'", id="wrong_unit"),
        pytest.param(body(unit=None), "unexpected unit None", id="null_unit"),
        pytest.param(body(price=[1.0, 2.0]), "length mismatch: 3 timestamps", id="length_mismatch"),
        pytest.param(body(unix_seconds=[], price=[]), "empty arrays", id="empty_arrays"),
        pytest.param(body(price="1,2,3"), "must be arrays", id="price_not_array"),
        pytest.param(body(price=[1.0, "x", 2.0]), "non-numeric price", id="price_text"),
        pytest.param(
            body(unix_seconds=[T0, T0 + 3600, T0 + 3600]), "not strictly increasing", id="dup_ts"
        ),
        pytest.param(
            body(unix_seconds=[T0, T0 + 600, T0 + 1200]), "spacing of 600 s", id="odd_spacing"
        ),
        pytest.param(body(unix_seconds=[T0, "x", T0 + 7200]), "must be integers", id="ts_not_int"),
    ],
)
def test_malformed_responses(data: bytes, reason: str) -> None:
    with pytest.raises(ResponseError) as err:
        parse_prices(data, "DE-LU")
    assert reason in err.value.reason
    assert "\n" not in str(err.value) and str(err.value).startswith("energy-charts: ")


def test_null_price_is_kept_as_null() -> None:
    t = parse_prices(body(price=[1.0, None, 3.0]), "DE-LU")
    assert t["price_eur_per_mwh"].to_pylist() == [1.0, None, 3.0]
    assert t["price_eur_per_kwh"].to_pylist() == [0.001, None, 0.003]


def test_unit_spacing_and_case_are_ignored() -> None:
    assert parse_prices(body(unit="eur/mwh"), "FR").num_rows == 3


def test_request_and_env_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTLAKE_ENERGY_CHARTS_URL", "http://localhost:9999/")
    url, params = price_request("DE-LU", date(2024, 12, 10), date(2024, 12, 11))
    assert url == "http://localhost:9999/price"
    assert params == {
        "bzn": "DE-LU",
        "start": "2024-12-10T00:00+00:00",
        "end": "2024-12-11T00:00+00:00",
    }


@pytest.mark.parametrize(
    ("zone", "start", "end", "msg"),
    [
        pytest.param("", date(2024, 1, 1), date(2024, 1, 2), "zone is empty", id="no_zone"),
        pytest.param("DE-LU", date(2024, 1, 2), date(2024, 1, 1), "ends before", id="reversed"),
    ],
)
def test_request_rejects_bad_input(zone: str, start: date, end: date, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        price_request(zone, start, end, "http://x")


def test_get_prices_uses_injected_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body())

    c = HttpClient(transport=httpx.MockTransport(handler), sleep=lambda s: None)
    raw = get_prices(c, "AT", date(2024, 12, 10), date(2024, 12, 11), "http://mock")
    assert parse_prices(raw, "AT").num_rows == 3
    assert seen[0].url.path == "/price" and seen[0].url.params["bzn"] == "AT"
