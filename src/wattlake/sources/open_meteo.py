"""Open-Meteo hourly weather: forecast (`/v1/forecast`) and historical archive (`/v1/archive`).

`get_forecast` / `get_archive` (network) and `read_weather` (file) return raw bytes;
`parse_weather` is pure and returns one row per hour:

latitude, longitude, ts (UTC), temperature_c, cloud_cover_pct, ghi_w_m2 (shortwave_radiation),
direct_w_m2 (direct_radiation: beam on the horizontal plane), dni_w_m2
(direct_normal_irradiance: beam on a plane facing the sun), dhi_w_m2 (diffuse_radiation),
wind_speed_m_s.

Direct-horizontal and direct-normal irradiance are different quantities (DNI = direct /
cos(zenith)), so they are kept in separate columns; a variable the response lacks is null.
Open-Meteo radiation values are means over the *preceding* hour; temperature, cloud cover
and wind are instantaneous at `ts`. We request `timezone=GMT`; responses in another zone are
converted to UTC with the IANA zone (DST-aware) or `utc_offset_seconds`.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from wattlake.errors import InputError
from wattlake.lake.spec import UTC_TS
from wattlake.sources.http import HttpClient, Params, ResponseError, load_json

SOURCE = "open-meteo"
DEFAULT_FORECAST_URL = "https://api.open-meteo.com"
DEFAULT_ARCHIVE_URL = "https://archive-api.open-meteo.com"

HOURLY_VARIABLES = (
    "temperature_2m",
    "cloud_cover",
    "shortwave_radiation",
    "direct_radiation",
    "direct_normal_irradiance",
    "diffuse_radiation",
    "wind_speed_10m",
)

WEATHER_SCHEMA = pa.schema(
    [
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts", UTC_TS),
        ("temperature_c", pa.float64()),
        ("cloud_cover_pct", pa.float64()),
        ("ghi_w_m2", pa.float64()),
        ("direct_w_m2", pa.float64()),
        ("dni_w_m2", pa.float64()),
        ("dhi_w_m2", pa.float64()),
        ("wind_speed_m_s", pa.float64()),
    ]
)

_W_M2 = {"w/m²": 1.0, "w/m2": 1.0, "w/m^2": 1.0}
# Output column → (Open-Meteo variable, {unit (lower-case, no spaces): factor or converter}).
_COLUMNS: dict[str, tuple[str, dict[str, Any]]] = {
    "temperature_c": (
        "temperature_2m",
        {"°c": 1.0, "degc": 1.0, "°f": lambda f: (f - 32.0) * 5.0 / 9.0},
    ),
    "cloud_cover_pct": ("cloud_cover", {"%": 1.0}),
    "ghi_w_m2": ("shortwave_radiation", _W_M2),
    "direct_w_m2": ("direct_radiation", _W_M2),
    "dni_w_m2": ("direct_normal_irradiance", _W_M2),
    "dhi_w_m2": ("diffuse_radiation", _W_M2),
    "wind_speed_m_s": (
        "wind_speed_10m",
        {"m/s": 1.0, "km/h": 1 / 3.6, "mp/h": 0.44704, "mph": 0.44704, "kn": 1852 / 3600},
    ),
}


def forecast_url() -> str:
    """`WATTLAKE_OPEN_METEO_URL` or the public forecast API."""
    return os.environ.get("WATTLAKE_OPEN_METEO_URL", DEFAULT_FORECAST_URL).rstrip("/")


def archive_url() -> str:
    """`WATTLAKE_OPEN_METEO_ARCHIVE_URL` or the public archive API."""
    return os.environ.get("WATTLAKE_OPEN_METEO_ARCHIVE_URL", DEFAULT_ARCHIVE_URL).rstrip("/")


def _check_coords(lat: float, lon: float) -> None:
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise InputError(f"latitude/longitude out of range: {lat}, {lon}")


def weather_request(
    kind: str, lat: float, lon: float, start: date, end: date, url: str | None = None
) -> tuple[str, Params]:
    """URL and parameters for `kind` = "forecast" or "archive"; dates are UTC days, inclusive."""
    _check_coords(lat, lon)
    if end < start:
        raise InputError(f"weather range ends before it starts ({start} > {end})")
    if kind == "forecast":
        base = url or forecast_url()
    elif kind == "archive":
        base = url or archive_url()
    else:
        raise InputError(f"unknown Open-Meteo endpoint '{kind}' (forecast or archive)")
    return base.rstrip("/") + f"/v1/{kind}", {
        "latitude": lat,
        "longitude": lon,
        "hourly": ",".join(HOURLY_VARIABLES),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "timezone": "GMT",
        "wind_speed_unit": "ms",
    }


def get_forecast(
    client: HttpClient, lat: float, lon: float, start: date, end: date, base_url: str | None = None
) -> bytes:
    """Raw `/v1/forecast` body (hourly, UTC) for the UTC days `start`..`end` inclusive."""
    url, params = weather_request("forecast", lat, lon, start, end, base_url)
    return client.get_bytes(url, params)


def get_archive(
    client: HttpClient, lat: float, lon: float, start: date, end: date, base_url: str | None = None
) -> bytes:
    """Raw `/v1/archive` (ERA5 reanalysis) body for the UTC days `start`..`end` inclusive."""
    url, params = weather_request("archive", lat, lon, start, end, base_url)
    return client.get_bytes(url, params)


def read_weather(path: Path) -> bytes:
    """Raw bytes of a saved Open-Meteo response."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    return Path(path).read_bytes()


def _unit_key(unit: str) -> str:
    return "".join(str(unit).split()).lower()


def _times_utc(doc: dict[str, Any], times: list[Any], time_unit: str) -> list[datetime]:
    """Response times → UTC datetimes (unixtime, or ISO local times in the response's zone)."""
    if time_unit == "unixtime":
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
            raise ResponseError("hourly.time must be integers for timeformat=unixtime", SOURCE)
        return [datetime.fromtimestamp(t, UTC) for t in times]
    if time_unit not in ("iso8601", ""):
        raise ResponseError(f"unexpected time unit {time_unit!r}", SOURCE)
    tz_name = doc.get("timezone") or "GMT"
    offset = doc.get("utc_offset_seconds", 0) or 0
    zone: Any
    if tz_name in ("GMT", "UTC", "Etc/UTC", "Etc/GMT"):
        zone = UTC
    else:
        try:
            zone = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
    out = []
    for t in times:
        try:
            naive = datetime.fromisoformat(str(t))
        except ValueError:
            raise ResponseError(f"unparseable time {t!r}", SOURCE) from None
        if naive.tzinfo is not None:
            out.append(naive.astimezone(UTC))
        elif zone is not None:
            out.append(naive.replace(tzinfo=zone).astimezone(UTC))
        else:
            out.append((naive - timedelta(seconds=float(offset))).replace(tzinfo=UTC))
    return out


def _convert(values: list[Any], conv: Any, name: str) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, int | float):
            raise ResponseError(f"non-numeric value {v!r} in hourly.{name}", SOURCE)
        else:
            out.append(conv(float(v)) if callable(conv) else float(v) * conv)
    return out


def parse_weather(data: bytes) -> pa.Table:
    """Pure: an Open-Meteo body (forecast or archive) → the hourly weather table (UTC).

    Units are checked against `hourly_units` and converted (°F → °C, km/h/mph/kn → m/s);
    `ResponseError` for error bodies, missing `hourly`, unknown units and ragged arrays.
    """
    doc = load_json(data, SOURCE)
    if not isinstance(doc, dict):
        raise ResponseError(f"expected a JSON object, got {type(doc).__name__}", SOURCE)
    if doc.get("error"):
        raise ResponseError(f"API error: {str(doc.get('reason', 'no reason given'))[:200]}", SOURCE)
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict):
        raise ResponseError("missing 'hourly' object (was hourly=… requested?)", SOURCE)
    units = doc.get("hourly_units")
    if not isinstance(units, dict):
        raise ResponseError("missing 'hourly_units' object", SOURCE)
    if "time" not in hourly or not isinstance(hourly["time"], list):
        raise ResponseError("missing 'hourly.time' array", SOURCE)
    try:
        lat, lon = float(doc["latitude"]), float(doc["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ResponseError("missing or non-numeric latitude/longitude", SOURCE) from None
    times = hourly["time"]
    if not times:
        raise ResponseError("no hours in the response (empty 'hourly.time')", SOURCE)
    n = len(times)
    columns: dict[str, pa.Array] = {}
    found = 0
    for col, (var, allowed) in _COLUMNS.items():
        if var not in hourly:
            columns[col] = pa.nulls(n, pa.float64())
            continue
        values = hourly[var]
        if not isinstance(values, list) or len(values) != n:
            size = len(values) if isinstance(values, list) else "no"
            raise ResponseError(f"hourly.{var} has {size} values for {n} times", SOURCE)
        unit = units.get(var)
        if unit is None:
            raise ResponseError(f"no unit for hourly.{var} in hourly_units", SOURCE)
        conv = allowed.get(_unit_key(unit))
        if conv is None:
            raise ResponseError(f"unexpected unit {unit!r} for hourly.{var}", SOURCE)
        columns[col] = pa.array(_convert(values, conv, var), pa.float64())
        found += 1
    if not found:
        wanted = ", ".join(v for v, _ in _COLUMNS.values())
        raise ResponseError(f"none of the weather variables present ({wanted})", SOURCE)
    ts = _times_utc(doc, times, str(units.get("time", "iso8601")))
    return pa.table(
        {
            "latitude": pa.array([lat] * n, pa.float64()),
            "longitude": pa.array([lon] * n, pa.float64()),
            "ts": pa.array(ts, UTC_TS),
            **columns,
        },
        schema=WEATHER_SCHEMA,
    )
