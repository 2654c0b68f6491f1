"""The one HTTP client every API source uses: retries, backoff, `Retry-After`, rate limit, cache.

- Timeout per request (seconds), retries on HTTP 429/5xx, timeouts and connection errors with
  exponential backoff (`backoff_s * 2**(attempt-1)`, capped at `backoff_max_s`); a
  `Retry-After` header (seconds or an HTTP date) raises the wait to at least that value.
- Rate limit: at least `min_interval_s` seconds between two requests to the same host
  (retries included).
- Optional on-disk cache (`cache_dir`): successful (2xx) bodies keyed by SHA-256 of the URL
  and sorted query parameters, optionally expiring after `cache_ttl_s`.
- `transport` (e.g. `httpx.MockTransport`) and `sleep`/`clock` are injectable, so tests
  neither touch the network nor wait.

Errors after the last attempt raise `HttpError` (a `WattlakeError`: one line, URL and status).
Sources raise `ResponseError` when a body arrived but is not what the API documents.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from wattlake.errors import WattlakeError

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "wattlake (+https://github.com/wattlake/wattlake)"

Params = Mapping[str, str | int | float | bool]


class HttpError(WattlakeError):
    """A request failed for good (after retries, or with a non-retryable status)."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class ResponseError(WattlakeError):
    """A response body is not what the API documents (HTML page, truncated JSON, bad unit…)."""

    def __init__(self, reason: str, source: str = "") -> None:
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason = reason
        self.source = source


class _RetryableError(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, message: str, status: int | None, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Fetched:
    """One successful response: final URL (with query), status, body bytes, when, cache hit."""

    url: str
    status: int
    content: bytes
    fetched_at: datetime
    from_cache: bool = False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait (delta-seconds or HTTP date); None when absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def build_url(url: str, params: Params | None = None) -> str:
    """The full URL httpx would request (for lineage and error messages)."""
    return str(httpx.URL(url, params=dict(params or {})))


def cache_key(url: str, params: Params | None = None) -> str:
    """SHA-256 of the URL and its parameters in sorted order (hex)."""
    items = sorted((str(k), str(v)) for k, v in (params or {}).items())
    return hashlib.sha256(json.dumps([url, items]).encode()).hexdigest()


def _snippet(body: bytes, limit: int = 160) -> str:
    text = body[:2000].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


class HttpClient:
    """GET with retries, backoff, `Retry-After`, per-host rate limit and an optional cache."""

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        retry_after_max_s: float = 300.0,
        min_interval_s: float = 0.0,
        cache_dir: Path | None = None,
        cache_ttl_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Timeouts, waits and intervals are in seconds; `max_attempts` counts the first try."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.min_interval_s = min_interval_s
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_ttl_s = cache_ttl_s
        self.sleep = sleep
        self.clock = clock
        self.requests_sent = 0
        self._last_request: dict[str, float] = {}
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, **dict(headers or {})},
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- public -----------------------------------------------------------------------------

    def get(self, url: str, params: Params | None = None) -> Fetched:
        """GET `url` with `params`; the cached body when caching is on and it is fresh."""
        full = build_url(url, params)
        cached = self._cache_read(url, params)
        if cached is not None:
            return cached
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            fetched = retrying(self._attempt, url, params, full)
        except _RetryableError as exc:
            raise HttpError(
                f"GET {full}: {exc} (gave up after {self.max_attempts} attempts)",
                full,
                exc.status,
            ) from None
        self._cache_write(url, params, fetched)
        return fetched

    def get_bytes(self, url: str, params: Params | None = None) -> bytes:
        """The response body of `get`."""
        return self.get(url, params).content

    # -- internals --------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff, raised to the server's `Retry-After` when it sent one."""
        backoff = min(self.backoff_max_s, self.backoff_s * 2 ** (state.attempt_number - 1))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableError) and exc.retry_after_s is not None:
            return max(backoff, min(exc.retry_after_s, self.retry_after_max_s))
        return backoff

    def _throttle(self, url: str) -> None:
        """Sleep so that requests to one host are at least `min_interval_s` apart."""
        host = urlsplit(url).netloc
        last = self._last_request.get(host)
        if last is not None and self.min_interval_s > 0:
            wait = self.min_interval_s - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_request[host] = self.clock()

    def _attempt(self, url: str, params: Params | None, full: str) -> Fetched:
        self._throttle(url)
        self.requests_sent += 1
        try:
            resp = self._client.get(url, params=dict(params or {}))
        except httpx.TimeoutException as exc:
            raise _RetryableError(
                f"timed out after {self.timeout_s:g} s ({type(exc).__name__})", None, None
            ) from None
        except httpx.TransportError as exc:
            raise _RetryableError(
                f"connection failed ({type(exc).__name__}: {exc})", None, None
            ) from None
        if resp.status_code in RETRY_STATUS:
            raise _RetryableError(
                f"HTTP {resp.status_code} {resp.reason_phrase}".rstrip(),
                resp.status_code,
                parse_retry_after(resp.headers.get("Retry-After")),
            )
        if resp.status_code >= 400:
            detail = _snippet(resp.content)
            raise HttpError(
                f"GET {full}: HTTP {resp.status_code} {resp.reason_phrase}"
                + (f": {detail}" if detail else ""),
                full,
                resp.status_code,
            )
        return Fetched(str(resp.url), resp.status_code, resp.content, datetime.now(UTC))

    def _cache_paths(self, url: str, params: Params | None) -> tuple[Path, Path] | None:
        if self.cache_dir is None:
            return None
        key = cache_key(url, params)
        return self.cache_dir / f"{key}.body", self.cache_dir / f"{key}.json"

    def _cache_read(self, url: str, params: Params | None) -> Fetched | None:
        paths = self._cache_paths(url, params)
        if paths is None or not paths[0].is_file() or not paths[1].is_file():
            return None
        try:
            meta: dict[str, Any] = json.loads(paths[1].read_text())
            fetched_at = datetime.fromisoformat(meta["fetched_at"])
        except (ValueError, KeyError):
            return None
        if self.cache_ttl_s is not None:
            age = (datetime.now(UTC) - fetched_at).total_seconds()
            if age > self.cache_ttl_s:
                return None
        return Fetched(meta["url"], int(meta["status"]), paths[0].read_bytes(), fetched_at, True)

    def _cache_write(self, url: str, params: Params | None, fetched: Fetched) -> None:
        paths = self._cache_paths(url, params)
        if paths is None:
            return
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        body_tmp = paths[0].with_suffix(".body.tmp")
        body_tmp.write_bytes(fetched.content)
        body_tmp.replace(paths[0])
        meta = {
            "url": fetched.url,
            "status": fetched.status,
            "fetched_at": fetched.fetched_at.isoformat(),
        }
        paths[1].write_text(json.dumps(meta))


# -- helpers shared by the sources ----------------------------------------------------------


def load_json(data: bytes, source: str) -> Any:
    """Decode a JSON body; `ResponseError` for empty bodies, HTML pages and truncated JSON."""
    if not data or not data.strip():
        raise ResponseError("empty response body", source)
    head = data.lstrip()[:200].lower()
    if head.startswith(b"<"):
        kind = "HTML page" if b"html" in head else "XML/HTML body"
        raise ResponseError(f"got an {kind} instead of JSON: {_snippet(data, 80)}", source)
    try:
        text = data.decode("utf-8-sig")  # RFC 8259: JSON on the wire is UTF-8
    except UnicodeDecodeError:
        raise ResponseError("response is not UTF-8 text", source) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResponseError(
            f"invalid or truncated JSON ({exc.msg} at char {exc.pos} of {len(data)})", source
        ) from None
