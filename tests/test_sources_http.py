"""HttpClient: retries, backoff, Retry-After, rate limit, cache, one-line errors (no network)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from wattlake.errors import WattlakeError
from wattlake.sources.http import (
    HttpClient,
    HttpError,
    ResponseError,
    cache_key,
    load_json,
    parse_retry_after,
)

URL = "https://api.example.test/data"


def scripted(responses: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list]:
    """A transport answering with `responses` in order; returns it and the requests seen."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handler), seen


def client(transport: httpx.MockTransport, sleeps: list[float], **kw: object) -> HttpClient:
    return HttpClient(transport=transport, sleep=sleeps.append, **kw)  # type: ignore[arg-type]


def test_success_passes_params_and_returns_body() -> None:
    transport, seen = scripted([httpx.Response(200, content=b'{"ok": 1}')])
    sleeps: list[float] = []
    with client(transport, sleeps) as c:
        got = c.get(URL, {"b": 2, "a": "x y"})
    assert got.content == b'{"ok": 1}'
    assert got.status == 200 and not got.from_cache
    assert seen[0].url.params["a"] == "x y" and seen[0].url.params["b"] == "2"
    assert "wattlake" in seen[0].headers["user-agent"]
    assert sleeps == []


def test_429_retry_after_then_503_then_200() -> None:
    transport, seen = scripted(
        [
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(503),
            httpx.Response(200, content=b"done"),
        ]
    )
    sleeps: list[float] = []
    c = client(transport, sleeps, backoff_s=0.25)
    assert c.get_bytes(URL) == b"done"
    # attempt 1: Retry-After 1 s beats the 0.25 s backoff; attempt 2: backoff 0.25 * 2
    assert sleeps == [1.0, 0.5]
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("failure", "fragment"),
    [
        pytest.param(httpx.Response(503), "HTTP 503", id="5xx"),
        pytest.param(httpx.Response(429), "HTTP 429", id="429"),
        pytest.param(httpx.ReadTimeout("slow"), "timed out after 30 s", id="timeout"),
        pytest.param(httpx.ConnectError("refused"), "connection failed", id="connect_error"),
    ],
)
def test_gives_up_after_max_attempts(failure: object, fragment: str) -> None:
    transport, seen = scripted([failure])  # type: ignore[list-item]
    sleeps: list[float] = []
    c = client(transport, sleeps, max_attempts=4, backoff_s=1.0, backoff_max_s=3.0)
    with pytest.raises(HttpError) as err:
        c.get(URL, {"q": 1})
    msg = str(err.value)
    assert "\n" not in msg
    assert fragment in msg and "https://api.example.test/data?q=1" in msg
    assert "4 attempts" in msg
    assert isinstance(err.value, WattlakeError)
    assert len(seen) == 4
    assert sleeps == [1.0, 2.0, 3.0]  # exponential, capped at backoff_max_s


@pytest.mark.parametrize(
    "status",
    [pytest.param(400, id="400"), pytest.param(404, id="404"), pytest.param(422, id="422")],
)
def test_client_errors_are_not_retried(status: int) -> None:
    transport, seen = scripted([httpx.Response(status, json={"detail": "bad bzn"})])
    sleeps: list[float] = []
    with pytest.raises(HttpError) as err:
        client(transport, sleeps).get(URL)
    assert err.value.status == status
    assert f"HTTP {status}" in str(err.value) and "bad bzn" in str(err.value)
    assert len(seen) == 1 and sleeps == []


def test_retry_after_is_capped() -> None:
    transport, _ = scripted(
        [httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200)]
    )
    sleeps: list[float] = []
    client(transport, sleeps, retry_after_max_s=120).get(URL)
    assert sleeps == [120]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param(" 2.5 ", 2.5, id="fractional"),
        pytest.param("-3", 0.0, id="negative_is_zero"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", 10.0, id="http_date"),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    from datetime import UTC, datetime

    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now) == expected


def test_rate_limit_per_host() -> None:
    transport, _ = scripted([httpx.Response(200)])
    sleeps: list[float] = []
    now = [100.0]
    c = HttpClient(
        transport=transport,
        sleep=lambda s: (sleeps.append(s), now.__setitem__(0, now[0] + s)),  # type: ignore[func-returns-value]
        clock=lambda: now[0],
        min_interval_s=2.0,
    )
    c.get(URL)
    now[0] += 0.5
    c.get(URL)  # same host 0.5 s later → waits 1.5 s
    c.get("https://other.example.test/x")  # other host → no wait
    now[0] += 5
    c.get(URL)  # long enough ago → no wait
    assert sleeps == [1.5]


def test_cache_serves_second_request(tmp_path: Path) -> None:
    transport, seen = scripted([httpx.Response(200, content=b"body")])
    sleeps: list[float] = []
    c = client(transport, sleeps, cache_dir=tmp_path / "cache")
    first = c.get(URL, {"a": 1, "b": 2})
    second = c.get(URL, {"b": 2, "a": 1})  # parameter order does not matter
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.content == b"body" and len(seen) == 1
    c.get(URL, {"a": 2})
    assert len(seen) == 2


def test_cache_ttl_expires(tmp_path: Path) -> None:
    transport, seen = scripted([httpx.Response(200, content=b"body")])
    c = client(transport, [], cache_dir=tmp_path, cache_ttl_s=0)
    c.get(URL)
    c.get(URL)
    assert len(seen) == 2


def test_failures_are_not_cached(tmp_path: Path) -> None:
    transport, seen = scripted([httpx.Response(404)])
    c = client(transport, [], cache_dir=tmp_path)
    for _ in range(2):
        with pytest.raises(HttpError):
            c.get(URL)
    assert len(seen) == 2
    assert not any(tmp_path.iterdir())


def test_cache_key_is_order_independent() -> None:
    assert cache_key(URL, {"a": 1, "b": 2}) == cache_key(URL, {"b": 2, "a": 1})
    assert cache_key(URL, {"a": 1}) != cache_key(URL + "/x", {"a": 1})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"", "empty response body", id="empty"),
        pytest.param(b"  \n", "empty response body", id="blank"),
        pytest.param(b"<!DOCTYPE html><html><body>502</body></html>", "HTML page", id="html"),
        pytest.param(b'{"price": [1, 2', "truncated JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", "not UTF-8", id="binary"),
    ],
)
def test_load_json_rejects(body: bytes, reason: str) -> None:
    with pytest.raises(ResponseError) as err:
        load_json(body, "src")
    assert reason in err.value.reason
    assert str(err.value).startswith("src: ")
