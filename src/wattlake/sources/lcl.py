"""Side files of the "Smart meters in London" (LCL) data set: households, weather, holidays.

`read_*` reads a file; `parse_*` is pure (bytes in, Arrow table out).

- `informations_households.csv` (`LCLid,stdorToU,Acorn,Acorn_grouped,file`) → users:
  user_id, tariff (`Std` | `ToU`), acorn, acorn_grouped (`ACORN-` = unknown → null), file.
- `weather_hourly_darksky.csv` → the Open-Meteo weather layout (UTC, °C, m/s). The hourly
  Dark Sky file has no irradiance (null) and usually no cloud cover; when a `cloudCover`
  column (fraction 0..1) is present it becomes `cloud_cover_pct` (0..100).
- `uk_bank_holidays.csv` → date, name. Several rows of the published file have day and
  month swapped (e.g. `2012-05-06` for the Diamond Jubilee on 5 June): each date is checked
  against the `holidays` calendar for England and corrected when the swapped date is the
  named holiday; `date_raw` and `date_corrected` keep the evidence.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import holidays as holidays_lib
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from wattlake.errors import InputError
from wattlake.lake.spec import UTC_TS
from wattlake.sources.open_meteo import WEATHER_SCHEMA

LONDON_LAT = 51.5074
LONDON_LON = -0.1278
HOUSEHOLD_HEADER = ("LCLid", "stdorToU", "Acorn", "Acorn_grouped", "file")
UNKNOWN_ACORN = ("ACORN-", "")

USERS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("tariff", pa.string()),
        ("acorn", pa.string()),
        ("acorn_grouped", pa.string()),
        ("file", pa.string()),
    ]
)
LCL_WEATHER_SCHEMA = pa.schema(
    [
        *WEATHER_SCHEMA,
        ("apparent_temperature_c", pa.float64()),
        ("dew_point_c", pa.float64()),
        ("humidity_pct", pa.float64()),
        ("pressure_hpa", pa.float64()),
        ("summary", pa.string()),
    ]
)
HOLIDAY_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("name", pa.string()),
        ("date_raw", pa.date32()),
        ("date_corrected", pa.bool_()),
    ]
)


def _read(path: Path) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    data = p.read_bytes()
    if not data.strip():
        raise InputError(f"{p}: file is empty")
    return data


def _csv(data: bytes, name: str, required: tuple[str, ...]) -> pa.Table:
    """All columns as text (trim values: CRs can sit inside quotes); `InputError` when a
    required column is missing."""
    try:
        head = data.split(b"\n", 1)[0].decode("utf-8-sig")
        cols = [c.strip().strip('"') for c in head.strip().split(",")]
        t = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=cols, skip_rows=1),
            # The published Dark Sky file has a stray CR inside the last quoted field.
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(cols, pa.string()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in required if c not in t.column_names]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {', '.join(missing)}; header is '{','.join(cols)}'"
        )
    return t


def _trimmed(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_trim_whitespace(col)


def _floats(col: pa.ChunkedArray, name: str, source: str) -> pa.ChunkedArray:
    """Numbers from text; empty, NULL, NaN and NA are null."""
    text = _trimmed(col)
    missing = pc.is_in(pc.utf8_lower(text), pa.array(["", "null", "nan", "na"]))
    text = pc.if_else(missing, pa.scalar(None, pa.string()), text)
    try:
        return text.cast(pa.float64())
    except pa.ArrowInvalid:
        raise InputError(f"{source}: column {name} has non-numeric values") from None


# -- households -----------------------------------------------------------------------------


def parse_households(data: bytes, name: str = "informations_households.csv") -> pa.Table:
    """Pure: the household list → user_id, tariff, acorn, acorn_grouped, file (one row each)."""
    t = _csv(data, name, HOUSEHOLD_HEADER)

    def unknown_to_null(col: pa.ChunkedArray) -> pa.ChunkedArray:
        col = _trimmed(col)
        return pc.if_else(pc.is_in(col, pa.array(UNKNOWN_ACORN)), None, col)

    out = pa.table(
        {
            "user_id": _trimmed(t["LCLid"]),
            "tariff": _trimmed(t["stdorToU"]),
            "acorn": unknown_to_null(t["Acorn"]),
            "acorn_grouped": unknown_to_null(t["Acorn_grouped"]),
            "file": _trimmed(t["file"]),
        },
        schema=USERS_SCHEMA,
    )
    bad = pc.sum(pc.equal(out["user_id"], "")).as_py() or 0
    if bad:
        raise InputError(f"{name}: {bad} row(s) without an LCLid")
    tariffs = set(pc.unique(out["tariff"]).to_pylist()) - {"Std", "ToU"}
    if tariffs:
        raise InputError(f"{name}: unknown stdorToU value(s) {sorted(tariffs)}")
    if pc.count_distinct(out["user_id"]).as_py() != out.num_rows:
        raise InputError(f"{name}: duplicate LCLid rows")
    return out


def read_households(path: Path) -> pa.Table:
    """`informations_households.csv` → the users table (see `parse_households`)."""
    return parse_households(_read(path), str(path))


# -- weather --------------------------------------------------------------------------------


def looks_like_lcl_weather(data: bytes) -> bool:
    """True when `data` starts with the header of the LCL Dark Sky weather file."""
    head = data[:4096].split(b"\n", 1)[0].decode("utf-8", errors="replace").lower()
    cols = {c.strip().strip('"') for c in head.split(",")}
    return {"time", "temperature", "windspeed", "windbearing"} <= cols


def parse_lcl_weather(
    data: bytes,
    name: str = "weather_hourly_darksky.csv",
    latitude: float = LONDON_LAT,
    longitude: float = LONDON_LON,
) -> pa.Table:
    """Pure: Dark Sky hourly London weather → the weather layout, sorted by ts (UTC).

    Dark Sky SI units: temperature °C, windSpeed m/s, pressure hPa, humidity and cloudCover
    as fractions 0..1 (→ %). The file names no location: `latitude`/`longitude` default to
    central London.
    """
    t = _csv(data, name, ("time", "temperature", "windSpeed"))
    try:
        ts = pc.strptime(_trimmed(t["time"]), format="%Y-%m-%d %H:%M:%S", unit="us")
    except pa.ArrowInvalid:
        raise InputError(f"{name}: column time is not 'YYYY-MM-DD HH:MM:SS'") from None
    n = t.num_rows

    def opt(col: str, factor: float = 1.0) -> pa.ChunkedArray | pa.Array:
        if col not in t.column_names:
            return pa.nulls(n, pa.float64())
        return pc.multiply(_floats(t[col], col, name), factor)

    nulls = pa.nulls(n, pa.float64())
    out = pa.table(
        {
            "latitude": pa.array([latitude] * n, pa.float64()),
            "longitude": pa.array([longitude] * n, pa.float64()),
            "ts": ts.cast(UTC_TS),
            "temperature_c": opt("temperature"),
            "cloud_cover_pct": opt("cloudCover", 100.0),
            "ghi_w_m2": nulls,
            "direct_w_m2": nulls,
            "dni_w_m2": nulls,
            "dhi_w_m2": nulls,
            "wind_speed_m_s": opt("windSpeed"),
            "apparent_temperature_c": opt("apparentTemperature"),
            "dew_point_c": opt("dewPoint"),
            "humidity_pct": opt("humidity", 100.0),
            "pressure_hpa": opt("pressure"),
            "summary": _trimmed(t["summary"]) if "summary" in t.column_names else pa.nulls(n),
        },
        schema=LCL_WEATHER_SCHEMA,
    )
    return out.sort_by("ts")


def read_lcl_weather(
    path: Path, latitude: float = LONDON_LAT, longitude: float = LONDON_LON
) -> pa.Table:
    """`weather_hourly_darksky.csv` → the weather layout (see `parse_lcl_weather`)."""
    return parse_lcl_weather(_read(path), str(path), latitude, longitude)


# -- bank holidays --------------------------------------------------------------------------

# Keyword in the file's holiday name → keyword in the `holidays` library's name.
_NAME_KEYS = (
    ("christmas", "christmas"),
    ("boxing", "boxing"),
    ("new year", "new year"),
    ("good friday", "good friday"),
    ("easter", "easter"),
    ("early may", "may day"),
    ("spring", "spring"),
    ("summer", "summer"),
    ("jubilee", "jubilee"),
)


def _swap_day_month(d: date) -> date | None:
    try:
        return date(d.year, d.day, d.month)
    except ValueError:
        return None


def correct_holiday_date(raw: date, name: str, calendar: holidays_lib.HolidayBase) -> date:
    """`raw`, or `raw` with day and month swapped when only that date is the named holiday."""
    key = next((lib for ours, lib in _NAME_KEYS if ours in name.lower()), None)
    swapped = _swap_day_month(raw)
    candidates = [raw] + ([swapped] if swapped and swapped != raw else [])

    def matches(d: date) -> bool:
        lib_name = calendar.get(d)
        if lib_name is None:
            return False
        return key is None or key in lib_name.lower()

    for d in candidates:
        if matches(d):
            return d
    return raw


def parse_bank_holidays(data: bytes, name: str = "uk_bank_holidays.csv") -> pa.Table:
    """Pure: `"Bank holidays",Type` → date (corrected), name, date_raw, date_corrected."""
    t = _csv(data, name, ("Bank holidays", "Type"))
    try:
        raw = pc.strptime(_trimmed(t["Bank holidays"]), format="%Y-%m-%d", unit="s")
    except pa.ArrowInvalid:
        raise InputError(f"{name}: column 'Bank holidays' is not YYYY-MM-DD") from None
    raw_dates = [d.date() for d in raw.to_pylist()]
    names = _trimmed(t["Type"]).to_pylist()
    years = sorted({d.year for d in raw_dates})
    calendar = holidays_lib.UK(subdiv="ENG", years=years)
    fixed = [correct_holiday_date(d, n, calendar) for d, n in zip(raw_dates, names, strict=True)]
    return pa.table(
        {
            "date": pa.array(fixed, pa.date32()),
            "name": pa.array(names, pa.string()),
            "date_raw": pa.array(raw_dates, pa.date32()),
            "date_corrected": pa.array([a != b for a, b in zip(fixed, raw_dates, strict=True)]),
        },
        schema=HOLIDAY_SCHEMA,
    ).sort_by("date")


def read_bank_holidays(path: Path) -> pa.Table:
    """`uk_bank_holidays.csv` → the holiday table (see `parse_bank_holidays`)."""
    return parse_bank_holidays(_read(path), str(path))
