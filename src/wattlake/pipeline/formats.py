"""Input formats: how a file is recognised, parsed, and where it lands.

One table replaces the dispatch that used to be spread over the ingest modules:

- **row formats** (`ROW_FORMATS`) parse bytes into a `ParsedFile` (raw text rows + dead
  letters) that becomes one landing `Batch` for a bronze table: the meter-reading layouts
  `lcl`, `meter-csv`, `readings-json`, and the profile layouts `users`, `lcl-households`;
- **whole-file formats** (`FILE_FORMATS`) have a lander of their own that also writes silver:
  `sqlite-agreements` (meterpoints, products, agreements) and `lcl-weather` (landed like an
  API response into `silver.weather`); they are ingested without other files;
- **skipped layouts** (`SKIPPED`) are recognised and left out with a note: the fault labels
  `wattlake generate --faults` writes next to its data files.

`--format` names the layout of the reading files; profile files (`users`, `lcl-households`)
are recognised by their header whatever `--format` says, so a generated directory ingests as
it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wattlake.errors import InputError
from wattlake.generate.faults import LABEL_COLUMNS
from wattlake.lake import catalog as cat
from wattlake.lake.spec import TableSpec
from wattlake.landing import READING_KEY, Batch, text_key
from wattlake.sources import smart_meter_etl as sme
from wattlake.sources.files import LAYOUTS, ParsedFile, check_format, detect_format, parse_lines
from wattlake.sources.lcl import looks_like_lcl_weather
from wattlake.sources.lcl_users import households_as_profiles


@dataclass(frozen=True)
class RowFormat:
    """A layout parsed into raw text rows for one bronze table."""

    name: str
    parse: Callable[[bytes, str], ParsedFile]  # (data, file name) → rows + dead letters
    spec: TableSpec
    record_key: str  # SQL whose SHA-256 is `_record_id`
    profile: bool = False  # a user-profile layout (accepted with any reading --format)
    # Validated as a whole document (JSON, the household list): parsed once in the checking
    # pass of an ingest, so a bad one stops the command before anything is written.
    checked_whole: bool = False

    def batch(self, pf: ParsedFile) -> Batch:
        """The landing batch of a parsed file."""
        return Batch(
            spec=self.spec,
            rows=pf.rows,
            source=pf.source_file,
            fmt=pf.fmt,
            checksum=pf.checksum,
            lines=pf.lines,
            record_key=self.record_key,
            dead=pf.dead,
        )


def _lines(fmt: str) -> Callable[[bytes, str], ParsedFile]:
    return lambda data, name: parse_lines(data, fmt, name)


_USERS_KEY = text_key(cat.USER_PROFILE_COLUMNS)
ROW_FORMATS: dict[str, RowFormat] = {
    "lcl": RowFormat("lcl", _lines("lcl"), cat.BRONZE_READINGS, READING_KEY),
    "meter-csv": RowFormat("meter-csv", _lines("meter-csv"), cat.BRONZE_READINGS, READING_KEY),
    sme.READINGS_FORMAT: RowFormat(
        sme.READINGS_FORMAT,
        sme.parse_readings_json,
        cat.BRONZE_READINGS,
        READING_KEY,
        checked_whole=True,
    ),
    "users": RowFormat("users", _lines("users"), cat.BRONZE_USERS, _USERS_KEY, profile=True),
    "lcl-households": RowFormat(
        "lcl-households",
        households_as_profiles,
        cat.BRONZE_USERS,
        _USERS_KEY,
        profile=True,
        checked_whole=True,
    ),
}
# Whole-file formats (their landers live in `pipeline.smart_meter_etl` / `pipeline.external`).
AGREEMENTS_FORMAT = sme.AGREEMENTS_FORMAT
LCL_WEATHER_FORMAT = "lcl-weather"
FILE_FORMATS = (AGREEMENTS_FORMAT, LCL_WEATHER_FORMAT)
LABELS_FORMAT = "labels"
SKIPPED = {LABELS_FORMAT: "fault labels of `wattlake generate` (not input data): skipped"}
KNOWN = (*ROW_FORMATS, *FILE_FORMATS)


def _header(data: bytes) -> tuple[str, ...]:
    first = data[:4096].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return tuple(c.strip().lower() for c in first.strip().lstrip("\ufeff").split(","))


def detect(data: bytes) -> str | None:
    """The format `data` looks like (magic bytes, JSON, or a CSV header), or None."""
    if sme.is_sqlite(data):
        return AGREEMENTS_FORMAT
    if sme.looks_like_json(data):
        return sme.READINGS_FORMAT
    if looks_like_lcl_weather(data):
        return LCL_WEATHER_FORMAT
    if _header(data) == LABEL_COLUMNS:
        return LABELS_FORMAT
    return detect_format(data)


def resolve(data: bytes, fmt: str | None, name: str) -> str:
    """The format to read `data` (file `name`) with under `--format fmt` (None: detect);
    `InputError` when it does not fit."""
    if fmt is not None and fmt not in KNOWN:
        raise InputError(f"unknown format '{fmt}' (known: {', '.join(KNOWN)})")
    found = detect(data)
    if found in SKIPPED:
        return found
    if fmt is None:
        if found is None:
            check_format(data, None, name)  # raises the "unknown layout" error
        return str(found)
    profile = found is not None and found in ROW_FORMATS and ROW_FORMATS[found].profile
    if profile and (fmt in LAYOUTS or fmt == sme.READINGS_FORMAT):
        return str(found)  # a profile file beside the readings
    if fmt in LAYOUTS:
        check_format(data, fmt, name)  # raises "not the <fmt> layout"
    return fmt


def parse(data: bytes, fmt: str, name: str) -> ParsedFile:
    """Parse `data` of a row format (`resolve` first)."""
    return ROW_FORMATS[fmt].parse(data, name)
