"""PVGIS `seriescalc`: hourly PV power and plane-of-array irradiance for past years.

`get_pvgis` (network) and `read_pvgis` (file) return raw bytes; `parse_pvgis_json` and
`parse_pvgis_csv` are pure and return one row per hour:

latitude, longitude, ts (UTC; PVGIS writes `20200101:0010`), p_w (PV system power, W; null
without `pvcalculation=1`), poa_global_w_m2 (G(i)), poa_direct_w_m2 (Gb(i)),
poa_sky_diffuse_w_m2 (Gd(i)), poa_ground_diffuse_w_m2 (Gr(i)), solar_elevation_deg (H_sun),
temp_air_c (T2m), wind_speed_m_s (WS10m), reconstructed (Int = 1).

With `components=1` PVGIS gives Gb/Gd/Gr instead of G(i); the global value is then their sum.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from wattlake.errors import InputError
from wattlake.lake.spec import UTC_TS
from wattlake.sources.http import HttpClient, Params, ResponseError, load_json

SOURCE = "pvgis"
DEFAULT_URL = "https://re.jrc.ec.europa.eu/api/v5_3"

PV_SCHEMA = pa.schema(
    [
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts", UTC_TS),
        ("p_w", pa.float64()),
        ("poa_global_w_m2", pa.float64()),
        ("poa_direct_w_m2", pa.float64()),
        ("poa_sky_diffuse_w_m2", pa.float64()),
        ("poa_ground_diffuse_w_m2", pa.float64()),
        ("solar_elevation_deg", pa.float64()),
        ("temp_air_c", pa.float64()),
        ("wind_speed_m_s", pa.float64()),
        ("reconstructed", pa.bool_()),
    ]
)
# PVGIS variable → output column (all floats except Int).
_VARIABLES = {
    "P": "p_w",
    "G(i)": "poa_global_w_m2",
    "Gb(i)": "poa_direct_w_m2",
    "Gd(i)": "poa_sky_diffuse_w_m2",
    "Gr(i)": "poa_ground_diffuse_w_m2",
    "H_sun": "solar_elevation_deg",
    "T2m": "temp_air_c",
    "WS10m": "wind_speed_m_s",
}
# Units PVGIS documents in `meta`; anything else is a ResponseError.
_EXPECTED_UNITS = {"P": "w", "G(i)": "w/m2", "T2m": "degreecelsius", "WS10m": "m/s"}


def base_url() -> str:
    """`WATTLAKE_PVGIS_URL` or the public API (v5.3)."""
    return os.environ.get("WATTLAKE_PVGIS_URL", DEFAULT_URL).rstrip("/")


def pvgis_request(
    lat: float,
    lon: float,
    start_year: int,
    end_year: int,
    *,
    peak_power_kwp: float | None = 1.0,
    loss_pct: float = 14.0,
    tilt_deg: float = 35.0,
    azimuth_deg: float = 0.0,
    components: bool = True,
    outputformat: str = "json",
    url: str | None = None,
) -> tuple[str, Params]:
    """URL and parameters of `seriescalc`. Azimuth: 0 = south, 90 = west, -90 = east (PVGIS).

    `peak_power_kwp=None` asks for irradiance only (no `P` column).
    """
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise InputError(f"latitude/longitude out of range: {lat}, {lon}")
    if end_year < start_year:
        raise InputError(f"PVGIS years reversed ({start_year} > {end_year})")
    if outputformat not in ("json", "csv"):
        raise InputError(f"PVGIS outputformat must be json or csv, not {outputformat!r}")
    params: dict[str, str | int | float | bool] = {
        "lat": lat,
        "lon": lon,
        "startyear": start_year,
        "endyear": end_year,
        "angle": tilt_deg,
        "aspect": azimuth_deg,
        "components": int(components),
        "outputformat": outputformat,
    }
    if peak_power_kwp is not None:
        if peak_power_kwp <= 0:
            raise InputError(f"PV peak power must be > 0 kWp, got {peak_power_kwp}")
        params |= {"pvcalculation": 1, "peakpower": peak_power_kwp, "loss": loss_pct}
    return (url or base_url()).rstrip("/") + "/seriescalc", params


def get_pvgis(
    client: HttpClient, lat: float, lon: float, start_year: int, end_year: int, **kw: Any
) -> bytes:
    """Raw `seriescalc` body (see `pvgis_request` for the keyword arguments)."""
    url, params = pvgis_request(lat, lon, start_year, end_year, **kw)
    return client.get_bytes(url, params)


def read_pvgis(path: Path) -> bytes:
    """Raw bytes of a saved `seriescalc` response (JSON or CSV)."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    return Path(path).read_bytes()


def parse_pvgis_time(value: str) -> datetime:
    """`20200101:0010` → 2020-01-01 00:10 UTC."""
    try:
        return datetime.strptime(value.strip(), "%Y%m%d:%H%M").replace(tzinfo=UTC)
    except (ValueError, AttributeError):
        raise ResponseError(
            f"unparseable time {value!r} (expected YYYYMMDD:HHMM)", SOURCE
        ) from None


def _float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ResponseError(f"non-numeric {name} value {value!r}", SOURCE) from None


def _build(records: list[dict[str, Any]], lat: float, lon: float) -> pa.Table:
    """Records keyed by PVGIS variable names → the PV table."""
    if not records:
        raise ResponseError("no hourly rows", SOURCE)
    n = len(records)
    present = set().union(*(r.keys() for r in records))
    if "time" not in present:
        raise ResponseError("hourly rows have no 'time'", SOURCE)
    if not present & {"P", "G(i)", "Gb(i)"}:
        raise ResponseError("hourly rows have neither P, G(i) nor Gb(i)", SOURCE)
    cols: dict[str, list[Any]] = {}
    for var, col in _VARIABLES.items():
        cols[col] = [_float(r.get(var), var) for r in records]
    if "G(i)" not in present and "Gb(i)" in present:
        cols["poa_global_w_m2"] = [
            None if None in (b, d, g) else b + d + g
            for b, d, g in zip(
                cols["poa_direct_w_m2"],
                cols["poa_sky_diffuse_w_m2"],
                cols["poa_ground_diffuse_w_m2"],
                strict=True,
            )
        ]
    reconstructed = [
        None if r.get("Int") in (None, "") else _float(r["Int"], "Int") == 1.0 for r in records
    ]
    return pa.table(
        {
            "latitude": pa.array([lat] * n, pa.float64()),
            "longitude": pa.array([lon] * n, pa.float64()),
            "ts": pa.array([parse_pvgis_time(str(r.get("time"))) for r in records], UTC_TS),
            **{c: pa.array(v, pa.float64()) for c, v in cols.items()},
            "reconstructed": pa.array(reconstructed, pa.bool_()),
        },
        schema=PV_SCHEMA,
    )


def _check_meta_units(doc: dict[str, Any]) -> None:
    variables = (
        doc.get("meta", {}).get("outputs", {}).get("hourly", {}).get("variables", {})
        if isinstance(doc.get("meta"), dict)
        else {}
    )
    for var, expected in _EXPECTED_UNITS.items():
        unit = (variables.get(var) or {}).get("units") if isinstance(variables, dict) else None
        if unit is not None and "".join(str(unit).split()).lower() != expected:
            raise ResponseError(f"unexpected unit {unit!r} for {var}", SOURCE)


def parse_pvgis_json(data: bytes) -> pa.Table:
    """Pure: `seriescalc` JSON (`outputs.hourly` list) → the PV table (UTC)."""
    doc = load_json(data, SOURCE)
    if not isinstance(doc, dict):
        raise ResponseError(f"expected a JSON object, got {type(doc).__name__}", SOURCE)
    if "outputs" not in doc:
        msg = doc.get("message") or doc.get("error")
        hint = f" (API said: {str(msg)[:150]})" if msg else ""
        raise ResponseError(f"missing 'outputs'{hint}", SOURCE)
    hourly = doc["outputs"].get("hourly") if isinstance(doc["outputs"], dict) else None
    if not isinstance(hourly, list):
        raise ResponseError("missing 'outputs.hourly' list (was seriescalc called?)", SOURCE)
    _check_meta_units(doc)
    try:
        loc = doc["inputs"]["location"]
        lat, lon = float(loc["latitude"]), float(loc["longitude"])
    except (KeyError, TypeError, ValueError):
        raise ResponseError("missing inputs.location latitude/longitude", SOURCE) from None
    if not all(isinstance(r, dict) for r in hourly):
        raise ResponseError("outputs.hourly must be a list of objects", SOURCE)
    return _build(hourly, lat, lon)


def parse_pvgis_csv(data: bytes) -> pa.Table:
    """Pure: `seriescalc` CSV (metadata header, `time,…` table, legend footer) → the PV table."""
    if not data or not data.strip():
        raise ResponseError("empty response body", SOURCE)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ResponseError("response is not UTF-8 text", SOURCE) from None
    if text.lstrip().startswith("<"):
        raise ResponseError("got an HTML page instead of CSV", SOURCE)
    lines = text.replace("\r\n", "\n").split("\n")
    meta: dict[str, str] = {}
    header_at = None
    for i, line in enumerate(lines):
        if line.startswith("time,"):
            header_at = i
            break
        if ":" in line:
            key, _, value = line.partition(":")
            meta[key.strip().lower()] = value.strip()
    if header_at is None:
        raise ResponseError("no 'time,…' header line in the CSV", SOURCE)
    try:
        lat = float(meta["latitude (decimal degrees)"])
        lon = float(meta["longitude (decimal degrees)"])
    except (KeyError, ValueError):
        raise ResponseError("missing Latitude/Longitude lines in the CSV header", SOURCE) from None
    names = [c.strip() for c in lines[header_at].split(",")]
    records: list[dict[str, Any]] = []
    for ln, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        if not line.strip():
            break  # the legend follows the first blank line
        fields = line.split(",")
        if len(fields) != len(names):
            raise ResponseError(
                f"line {ln}: expected {len(names)} fields, got {len(fields)} (truncated?)", SOURCE
            )
        records.append(dict(zip(names, fields, strict=True)))
    return _build(records, lat, lon)


def parse_pvgis(data: bytes) -> pa.Table:
    """JSON or CSV, whichever `data` is."""
    return parse_pvgis_json(data) if data.lstrip()[:1] in (b"{", b"[") else parse_pvgis_csv(data)
