"""What a stream replay reads: meter files in any ingest layout (parsed with the ingest's own
format table, `pipeline.formats`), weather (Open-Meteo bodies) and prices (Energy-Charts
bodies); files that are not readings are skipped with the reason. Or a freshly generated
data set (`generate_data`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from wattlake.errors import InputError
from wattlake.generate.faults import LABEL_COLUMNS as GENERATOR_LABEL_COLUMNS
from wattlake.pipeline import formats
from wattlake.sources.files import LAYOUTS, ParsedFile, expand_paths, header_of, read_bytes
from wattlake.stream import replay

_ZONE_IN_NAME = re.compile(r"energy_charts_(.+?)_\d{4}-\d\d-\d\d")


@dataclass
class Source:
    """What a replay reads: reading files (parsed), weather and price tables, skipped files
    with the reason."""

    parsed: list[ParsedFile] = field(default_factory=list)
    weather: list[pa.Table] = field(default_factory=list)
    prices: list[pa.Table] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _is_labels(data: bytes) -> bool:
    head = tuple(h.lower() for h in header_of(data))
    return head in (tuple(GENERATOR_LABEL_COLUMNS), tuple(replay.LABEL_COLUMNS))


def classify(data: bytes, name: str, zone: str, fmt: str | None) -> tuple[str, Any]:
    """What one file is for the replay: (`readings`, ParsedFile) | (`weather`, table) |
    (`prices`, table) | (`skip`, reason). `InputError` for a file of no known layout."""
    from wattlake.sources import smart_meter_etl as sme

    if fmt is None and sme.looks_like_json(data):
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None  # JSON lines: readings
        if isinstance(doc, dict) and "hourly" in doc:
            from wattlake.sources.open_meteo import parse_weather

            return "weather", parse_weather(data)
        if isinstance(doc, dict) and "unix_seconds" in doc:
            from wattlake.sources.energy_charts import parse_prices

            m = _ZONE_IN_NAME.search(Path(name).name)
            return "prices", parse_prices(data, m.group(1) if m else zone)
    if fmt is None and _is_labels(data):
        return "skip", "a labels file"
    found = formats.resolve(data, fmt, name)
    if found in formats.SKIPPED:
        return "skip", formats.SKIPPED[found]
    if found == formats.AGREEMENTS_FORMAT:
        return "skip", "a SQLite database (agreements), not readings"
    if found == formats.LCL_WEATHER_FORMAT:
        return "skip", "LCL (Dark Sky) weather, not used for alerts"
    if formats.ROW_FORMATS[found].profile:
        return "skip", "user profiles, not readings"
    return "readings", formats.parse(data, found, name)


def load_source(paths: list[Path], zone: str, fmt: str | None = None) -> Source:
    """Read and classify every file of `paths` (`classify`)."""
    if fmt is not None and fmt not in (*LAYOUTS, "readings-json"):
        raise InputError(f"unknown format '{fmt}' (known: lcl, meter-csv, readings-json)")
    src = Source()
    for p in expand_paths(paths):
        kind, obj = classify(read_bytes(p), str(p), zone, fmt)
        if kind == "readings":
            src.parsed.append(obj)
        elif kind == "weather":
            src.weather.append(obj)
        elif kind == "prices":
            src.prices.append(obj)
        else:
            src.skipped.append((str(p), obj))
    if not src.parsed:
        raise InputError(f"no meter reading files in {', '.join(map(str, paths))}")
    return src


def generate_data(
    out_dir: Path,
    households: int,
    days: int,
    *,
    seed: int,
    fmt: str,
    faults: bool,
    start: dt.date,
    zone: str,
) -> Path:
    """Write a generated data set to `out_dir` (`wattlake generate` + the demo's synthetic
    weather and price bodies) and return it."""
    from wattlake.generate import generate
    from wattlake.generate.external import synthetic_bodies
    from wattlake.pipeline.demo_external import demo_points

    try:
        gen = generate(out_dir, households, days, seed=seed, fmt=fmt, faults=faults, start=start)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    assert gen.weather is not None
    points = demo_points(gen.users_file)
    for b in synthetic_bodies(
        start, days, gen.weather.temperature_c, gen.weather.cloud, points, zone, seed
    ):
        (out_dir / b.filename).write_bytes(b.body)
    return out_dir
