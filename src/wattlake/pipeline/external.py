"""`wattlake ingest prices|weather|pv`: fetch an API, keep the raw body, merge into silver.

Each call: fetch (one `HttpClient`, retries and backoff) → land the body unchanged in
`bronze.api_responses` (MERGE on its SHA-256, so the same body is stored once) → parse →
replace the covered key range in silver (`silver.prices` by zone and ts, `silver.weather` by
latitude, longitude and ts, `silver.pv_potential` by location, system and ts): re-running
changes nothing, a newer forecast replaces the older values.

`body=` lands a response obtained elsewhere (a saved file, or the offline demo's synthetic
Open-Meteo / Energy-Charts bodies) through exactly the same path, without any HTTP: the
lineage URL is the request URL the body stands for.

A successful ingest also marks its batch in `ops.checkpoints` (step `silver_external`,
batch id → this ingest's run id): the next `wattlake run` recomputes the gold dates those
silver rows cover (enriched readings, modelled PV, peaks) and reloads them in the warehouse.

Failures never escape as exceptions: an HTTP failure or an unparseable body gives an
`ops.runs` row with status "failed" (and, for bodies, an `ops.dead_letter` row with the URL,
line 0, the first 2000 characters and the reason); the outcome says `status="failed"`.
Bad arguments (empty zone, reversed dates) raise `InputError` before anything is fetched.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.config import Settings
from wattlake.errors import WattlakeError
from wattlake.lake import catalog as cat
from wattlake.lake.catalog import (
    BRONZE_API_RESPONSES,
    SILVER_PRICES,
    SILVER_PV_POTENTIAL,
    SILVER_WEATHER,
)
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec
from wattlake.logs import get_logger
from wattlake.pipeline.ingest import batch_id_for
from wattlake.sources import energy_charts, lcl, open_meteo, pvgis
from wattlake.sources.files import read_bytes
from wattlake.sources.http import Fetched, HttpClient, HttpError, Params, build_url

DEAD_LETTER_CHARS = 2000
# Open-Meteo's forecast API serves recent days; older ranges come from the ERA5 archive.
ARCHIVE_AFTER_DAYS = 5
# ops.checkpoints step of external silver batches (batch id → the ingest run that wrote it).
EXTERNAL_STEP = "silver_external"
LCL_WEATHER_SOURCE = "lcl-darksky"


@dataclass(frozen=True)
class ExternalOutcome:
    """What one `ingest_*` call did."""

    source: str
    url: str
    run_id: str
    batch_id: str | None
    status: str  # "success" | "failed"
    rows_parsed: int = 0
    rows_merged: int = 0
    new_body: bool = False  # False: the same body was already in bronze
    message: str = ""


def make_client(settings: Settings, *, cache: bool = False, **kw: object) -> HttpClient:
    """The default client: 1 request/s per host; `cache=True` keeps bodies in
    `<home>/cache/http`."""
    cache_dir = settings.home / "cache" / "http" if cache else None
    return HttpClient(min_interval_s=1.0, cache_dir=cache_dir, **kw)  # type: ignore[arg-type]


def utc_days(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC days `start`..`end` inclusive as the half-open instant range [start, end + 1 day)."""
    s = datetime(start.year, start.month, start.day, tzinfo=UTC)
    e = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    return s, e


def _sql_ts(value: datetime) -> str:
    return "'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_num(value: float) -> str:
    return repr(float(value))


def ingest_prices(
    settings: Settings,
    zone: str,
    start: date,
    end: date,
    client: HttpClient | None = None,
    *,
    base_url: str | None = None,
    body: bytes | None = None,
) -> ExternalOutcome:
    """Day-ahead prices of `zone` (e.g. DE-LU) for the UTC days `start`..`end` inclusive.

    `body`: land this `/price` response instead of fetching (no HTTP)."""
    s, e = utc_days(start, end)
    url, params = energy_charts.price_request(zone, s, e - timedelta(seconds=1), base_url)

    def to_silver(parsed: pa.Table) -> tuple[pa.Table, str]:
        kept = parsed.filter(pc.is_valid(parsed["price_eur_per_mwh"]))
        return kept, _range_predicate(f"zone = {_sql_str(zone.strip())}", kept)

    return _run(
        settings,
        energy_charts.SOURCE,
        url,
        params,
        lambda b: energy_charts.parse_prices(b, zone.strip()),
        to_silver,
        SILVER_PRICES,
        client,
        body,
    )


def ingest_weather(
    settings: Settings,
    lat: float,
    lon: float,
    start: date,
    end: date,
    client: HttpClient | None = None,
    *,
    kind: str = "auto",
    base_url: str | None = None,
    today: date | None = None,
    body: bytes | None = None,
) -> ExternalOutcome:
    """Hourly Open-Meteo weather at (`lat`, `lon`) for the UTC days `start`..`end` inclusive.

    `kind="auto"` uses the archive when `end` is more than 5 days ago, else the forecast API.
    Rows are stored under the coordinates Open-Meteo snapped to (its grid cell).
    `body`: land this Open-Meteo response instead of fetching (no HTTP).
    """
    if kind == "auto":
        today = today or datetime.now(UTC).date()
        kind = "archive" if end < today - timedelta(days=ARCHIVE_AFTER_DAYS) else "forecast"
    url, params = open_meteo.weather_request(kind, lat, lon, start, end, base_url)

    def to_silver(parsed: pa.Table) -> tuple[pa.Table, str]:
        la, lo = parsed["latitude"][0].as_py(), parsed["longitude"][0].as_py()
        where = f"latitude = {_sql_num(la)} AND longitude = {_sql_num(lo)}"
        return parsed, _range_predicate(where, parsed)

    return _run(
        settings,
        open_meteo.SOURCE,
        url,
        params,
        open_meteo.parse_weather,
        to_silver,
        SILVER_WEATHER,
        client,
        body,
    )


def ingest_lcl_weather(
    settings: Settings,
    path: Path,
    latitude: float = lcl.LONDON_LAT,
    longitude: float = lcl.LONDON_LON,
) -> ExternalOutcome:
    """The LCL data set's `weather_hourly_darksky.csv` (hourly London weather, Dark Sky) into
    bronze (the file as the response body) and `silver.weather` at central London (the file
    names no location), like an Open-Meteo response: same lineage, runs and recompute."""
    body = read_bytes(path)

    def parse(b: bytes) -> pa.Table:
        return lcl.parse_lcl_weather(b, str(path), latitude, longitude)

    def to_silver(parsed: pa.Table) -> tuple[pa.Table, str]:
        where = f"latitude = {_sql_num(latitude)} AND longitude = {_sql_num(longitude)}"
        return parsed, _range_predicate(where, parsed)

    url = path.resolve().as_uri()
    return _run(settings, LCL_WEATHER_SOURCE, url, {}, parse, to_silver, SILVER_WEATHER, None, body)


def ingest_pv(
    settings: Settings,
    lat: float,
    lon: float,
    start_year: int,
    end_year: int,
    client: HttpClient | None = None,
    *,
    peak_power_kwp: float = 1.0,
    tilt_deg: float = 35.0,
    azimuth_deg: float = 0.0,
    loss_pct: float = 14.0,
    base_url: str | None = None,
    body: bytes | None = None,
) -> ExternalOutcome:
    """PVGIS hourly PV power (W) and irradiance for a fixed system, years inclusive.

    Azimuth follows PVGIS: 0 = south, 90 = west, -90 = east; tilt from horizontal (degrees).
    `body`: land this PVGIS JSON response instead of fetching (no HTTP).
    """
    url, params = pvgis.pvgis_request(
        lat,
        lon,
        start_year,
        end_year,
        peak_power_kwp=peak_power_kwp,
        loss_pct=loss_pct,
        tilt_deg=tilt_deg,
        azimuth_deg=azimuth_deg,
        components=True,
        outputformat="json",
        url=base_url,
    )

    def to_silver(parsed: pa.Table) -> tuple[pa.Table, str]:
        n = parsed.num_rows
        out = (
            parsed.append_column("peak_power_kwp", pa.array([peak_power_kwp] * n, pa.float64()))
            .append_column("tilt_deg", pa.array([tilt_deg] * n, pa.float64()))
            .append_column("azimuth_deg", pa.array([azimuth_deg] * n, pa.float64()))
        )
        la, lo = parsed["latitude"][0].as_py(), parsed["longitude"][0].as_py()
        where = (
            f"latitude = {_sql_num(la)} AND longitude = {_sql_num(lo)} AND "
            f"peak_power_kwp = {_sql_num(peak_power_kwp)} AND tilt_deg = {_sql_num(tilt_deg)}"
            f" AND azimuth_deg = {_sql_num(azimuth_deg)}"
        )
        return out, _range_predicate(where, out)

    return _run(
        settings,
        pvgis.SOURCE,
        url,
        params,
        pvgis.parse_pvgis_json,
        to_silver,
        SILVER_PV_POTENTIAL,
        client,
        body,
    )


def _range_predicate(where: str, rows: pa.Table) -> str:
    """`where` AND ts within the rows' [min, max] (the rows replace that span)."""
    if rows.num_rows == 0:
        return f"{where} AND ts IS NULL AND ts IS NOT NULL"  # matches nothing
    lo, hi = pc.min_max(rows["ts"]).values()
    return f"{where} AND ts >= {_sql_ts(lo.as_py())} AND ts <= {_sql_ts(hi.as_py())}"


def _run(
    settings: Settings,
    source: str,
    url: str,
    params: Params,
    parse: Callable[[bytes], pa.Table],
    to_silver: Callable[[pa.Table], tuple[pa.Table, str]],
    silver: TableSpec,
    client: HttpClient | None,
    body: bytes | None = None,
) -> ExternalOutcome:
    lake = Lake(settings.home)
    run_id = f"ingest-{source}-" + uuid.uuid4().hex[:12]
    log = get_logger(run_id=run_id, step="ingest_external", source=source)
    t0 = time.perf_counter()
    started = datetime.now(UTC)
    if body is not None:
        fetched: Fetched = Fetched(build_url(url, params), 200, body, started)
    else:
        own = client is None
        http = client or make_client(settings)
        try:
            fetched = http.get(url, params)
        except HttpError as exc:
            return _failed(lake, run_id, source, exc.url, None, None, str(exc), started, t0, log)
        finally:
            if own:
                http.close()
    full_url = fetched.url
    checksum = hashlib.sha256(fetched.content).hexdigest()
    batch_id = batch_id_for(checksum)
    text = fetched.content.decode("utf-8", errors="replace")
    bronze = {
        "source": source,
        "url": full_url,
        "params": json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True),
        "status": fetched.status,
        "fetched_at": fetched.fetched_at,
        "checksum": checksum,
        "content_length": len(fetched.content),
        "body": text,
        "_batch_id": batch_id,
        "_source_file": full_url,
        "_row_number": 0,
        "_ingested_at": started,
        "_record_id": checksum,
        "ingest_date": started.date().isoformat(),
    }
    new_body = lake.insert_new(BRONZE_API_RESPONSES, pa.Table.from_pylist([bronze])) > 0
    try:
        parsed = parse(fetched.content)
        rows, predicate = to_silver(parsed)
    except WattlakeError as exc:
        dead = {
            "batch_id": batch_id,
            "source_file": full_url,
            "line_number": 0,
            "raw_text": text[:DEAD_LETTER_CHARS],
            "reason": str(exc),
            "recorded_at": started,
        }
        lake.insert_new(cat.OPS_DEAD_LETTER, pa.Table.from_pylist([dead]))
        return _failed(
            lake,
            run_id,
            source,
            full_url,
            batch_id,
            checksum,
            str(exc),
            started,
            t0,
            log,
            dead_letters=1,
        )
    n = rows.num_rows
    rows = rows.append_column("source", pa.array([source] * n, pa.string())).append_column(
        "_batch_id", pa.array([batch_id] * n, pa.string())
    )
    if n:
        lake.replace_where(silver, rows, predicate)
        _mark_for_gold(lake, batch_id, run_id, started)
    msg = "" if new_body else "same response body already in bronze"
    _run_row(
        lake,
        run_id,
        batch_id,
        source,
        full_url,
        parsed.num_rows,
        n,
        0,
        checksum,
        started,
        t0,
        "success",
        msg,
    )
    log.info("external_ingested", url=full_url, rows=n, new_body=new_body)
    return ExternalOutcome(
        source, full_url, run_id, batch_id, "success", parsed.num_rows, n, new_body, msg
    )


def _mark_for_gold(lake: Lake, batch_id: str, run_id: str, now: datetime) -> None:
    """Record that `run_id` (re)wrote the silver rows of `batch_id`: gold recomputes their
    dates on the next run (the batch takes this run's id even if it was applied before)."""
    lake.delete(
        cat.OPS_CHECKPOINTS, f"step = '{EXTERNAL_STEP}' AND batch_id = {_sql_str(batch_id)}"
    )
    row = {"step": EXTERNAL_STEP, "batch_id": batch_id, "run_id": run_id, "processed_at": now}
    lake.insert_new(cat.OPS_CHECKPOINTS, pa.Table.from_pylist([row]))


def _failed(
    lake: Lake,
    run_id: str,
    source: str,
    url: str,
    batch_id: str | None,
    checksum: str | None,
    message: str,
    started: datetime,
    t0: float,
    log: object,
    dead_letters: int = 0,
) -> ExternalOutcome:
    _run_row(
        lake,
        run_id,
        batch_id,
        source,
        url,
        0,
        0,
        dead_letters,
        checksum,
        started,
        t0,
        "failed",
        message,
    )
    log.warning("external_failed", url=url, reason=message)  # type: ignore[attr-defined]
    return ExternalOutcome(source, url, run_id, batch_id, "failed", message=message)


def _run_row(
    lake: Lake,
    run_id: str,
    batch_id: str | None,
    source: str,
    url: str,
    rows_in: int,
    rows_out: int,
    dead: int,
    checksum: str | None,
    started: datetime,
    t0: float,
    status: str,
    message: str,
) -> None:
    row = {
        "run_id": run_id,
        "batch_id": batch_id,
        "step": f"ingest_{source}",
        "source": url,
        "engine": "duckdb",
        "profile": None,
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_quarantined": 0,
        "rows_dead_letter": dead,
        "rows_duplicate": 0,
        "checksum": checksum,
        "started_at": started,
        "duration_s": round(time.perf_counter() - t0, 4),
        "status": status,
        "message": message,
    }
    lake.append(cat.OPS_RUNS, pa.Table.from_pylist([row]))
