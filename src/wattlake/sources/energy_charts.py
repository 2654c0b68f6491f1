"""Energy-Charts day-ahead spot prices (`GET /price?bzn=ZONE&start=…&end=…`).

`get_prices` (network) and `read_prices` (file) return the raw body; `parse_prices` is pure.
The API answers `{"unix_seconds": [...], "price": [...], "unit": "EUR / MWh", ...}`; each
timestamp is the UTC start of a delivery interval (60 min, or 15 min since the 2025 switch
of the day-ahead auction). Data: Bundesnetzagentur | SMARD.de, CC BY 4.0.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pyarrow as pa

from wattlake.errors import InputError
from wattlake.lake.spec import UTC_TS
from wattlake.sources.http import HttpClient, Params, ResponseError, load_json

SOURCE = "energy-charts"
DEFAULT_URL = "https://api.energy-charts.info"
ALLOWED_RESOLUTIONS_MIN = (15, 30, 60)

PRICE_SCHEMA = pa.schema(
    [
        ("zone", pa.string()),
        ("ts", UTC_TS),
        ("price_eur_per_mwh", pa.float64()),
        ("price_eur_per_kwh", pa.float64()),
        ("resolution_minutes", pa.int32()),
        ("unit", pa.string()),
    ]
)


def base_url() -> str:
    """`WATTLAKE_ENERGY_CHARTS_URL` or the public API."""
    return os.environ.get("WATTLAKE_ENERGY_CHARTS_URL", DEFAULT_URL).rstrip("/")


def as_utc(value: date | datetime) -> datetime:
    """A date is midnight UTC; a naive datetime is taken as UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def price_request(
    zone: str, start: date | datetime, end: date | datetime, url: str | None = None
) -> tuple[str, Params]:
    """URL and query parameters for `/price` (start/end sent as ISO 8601 UTC instants)."""
    if not zone or not zone.strip():
        raise InputError("price zone is empty (e.g. DE-LU, FR, NL)")
    s, e = as_utc(start), as_utc(end)
    if e < s:
        raise InputError(f"price range ends before it starts ({s:%Y-%m-%d} > {e:%Y-%m-%d})")
    return (url or base_url()).rstrip("/") + "/price", {
        "bzn": zone.strip(),
        "start": s.isoformat(timespec="minutes"),
        "end": e.isoformat(timespec="minutes"),
    }


def get_prices(
    client: HttpClient,
    zone: str,
    start: date | datetime,
    end: date | datetime,
    base_url: str | None = None,
) -> bytes:
    """Raw `/price` response body for bidding zone `zone` between `start` and `end` (UTC)."""
    url, params = price_request(zone, start, end, base_url)
    return client.get_bytes(url, params)


def read_prices(path: Path) -> bytes:
    """Raw bytes of a saved `/price` response."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    return Path(path).read_bytes()


def infer_resolution_minutes(unix_seconds: list[int]) -> int:
    """Interval length (minutes) from the most common spacing; 60 for a single point."""
    if len(unix_seconds) < 2:
        return 60
    diffs = [b - a for a, b in pairwise(unix_seconds)]
    if any(d <= 0 for d in diffs):
        raise ResponseError("unix_seconds are not strictly increasing", SOURCE)
    step_s, _ = Counter(diffs).most_common(1)[0]
    if step_s % 60 or step_s // 60 not in ALLOWED_RESOLUTIONS_MIN:
        raise ResponseError(
            f"unexpected spacing of {step_s} s between prices (expected 15, 30 or 60 min)",
            SOURCE,
        )
    return step_s // 60


def row_resolutions_minutes(unix_seconds: list[int]) -> list[int]:
    """Interval length (minutes) of each price: the spacing to the next one.

    A response spanning the day-ahead market's move to 15-minute products (1 Oct 2025) has
    hourly rows, then quarter-hour rows. A spacing that is no allowed length (a missing
    interval) and the last row fall back to the previous row's length, and the first row
    to the most common spacing (`infer_resolution_minutes`, which also validates).
    """
    common = infer_resolution_minutes(unix_seconds)
    out: list[int] = []
    for a, b in pairwise(unix_seconds):
        step = (b - a) // 60
        ok = (b - a) % 60 == 0 and step in ALLOWED_RESOLUTIONS_MIN
        out.append(step if ok else (out[-1] if out else common))
    out.append(out[-1] if out else common)
    return out


def _normalise_unit(unit: str) -> str:
    return "".join(unit.split()).lower()


def parse_prices(data: bytes, zone: str) -> pa.Table:
    """Pure: a `/price` body → zone, ts (UTC), price_eur_per_mwh, price_eur_per_kwh,
    resolution_minutes, unit. Null prices stay null; `ResponseError` for anything malformed.
    """
    doc = load_json(data, SOURCE)
    if not isinstance(doc, dict):
        raise ResponseError(f"expected a JSON object, got {type(doc).__name__}", SOURCE)
    missing = [k for k in ("unix_seconds", "price", "unit") if k not in doc]
    if missing:
        detail = doc.get("detail") or doc.get("message") or doc.get("reason")
        hint = f" (API said: {str(detail)[:120]})" if detail else ""
        raise ResponseError(f"missing key(s) {', '.join(missing)}{hint}", SOURCE)
    secs, prices, unit = doc["unix_seconds"], doc["price"], doc["unit"]
    if not isinstance(secs, list) or not isinstance(prices, list):
        raise ResponseError("unix_seconds and price must be arrays", SOURCE)
    if not isinstance(unit, str) or _normalise_unit(unit) != "eur/mwh":
        raise ResponseError(f"unexpected unit {unit!r} (expected 'EUR / MWh')", SOURCE)
    if len(secs) != len(prices):
        raise ResponseError(
            f"length mismatch: {len(secs)} timestamps but {len(prices)} prices", SOURCE
        )
    if not secs:
        raise ResponseError("no prices in the requested range (empty arrays)", SOURCE)
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in secs):
        raise ResponseError("unix_seconds must be integers", SOURCE)
    bad = [p for p in prices if p is not None and not isinstance(p, int | float)]
    if bad or any(isinstance(p, bool) for p in prices):
        raise ResponseError(f"non-numeric price {bad[:1]}", SOURCE)
    resolution = row_resolutions_minutes(secs)
    n = len(secs)
    mwh = pa.array([None if p is None else float(p) for p in prices], pa.float64())
    kwh = pa.array([None if p is None else float(p) / 1000.0 for p in prices], pa.float64())
    ts = pa.array([s * 1_000_000 for s in secs], pa.int64()).cast(UTC_TS)
    return pa.table(
        {
            "zone": pa.array([zone] * n, pa.string()),
            "ts": ts,
            "price_eur_per_mwh": mwh,
            "price_eur_per_kwh": kwh,
            "resolution_minutes": pa.array(resolution, pa.int32()),
            "unit": pa.array([unit] * n, pa.string()),
        },
        schema=PRICE_SCHEMA,
    )
