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
from wattlake.context import Context
from wattlake.errors import InputError, WattlakeError
from wattlake.lake import catalog as cat
from wattlake.lake.catalog import (
    BRONZE_API_RESPONSES,
    SILVER_PRICES,
    SILVER_PV_POTENTIAL,
    SILVER_WEATHER,
)
from wattlake.lake.predicates import sql_num, sql_str, sql_ts
from wattlake.lake.spec import TableSpec
from wattlake.landing import Batch, Landed, LandingSummary, batch_id_for, dead_letter_rows, land
from wattlake.logs import get_logger
from wattlake.pipeline.checkpoints import mark_external
from wattlake.runlog import RunRecord, record_runs
from wattlake.sources import energy_charts, lcl, open_meteo, pvgis
from wattlake.sources.files import read_bytes
from wattlake.sources.http import Fetched, HttpClient, HttpError, Params, build_url

DEAD_LETTER_CHARS = 2000
# Open-Meteo's forecast API serves recent days; older ranges come from the ERA5 archive.
ARCHIVE_AFTER_DAYS = 5
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


def ingest_prices(
    ctx: Context,
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
        return kept, _range_predicate(f"zone = {sql_str(zone.strip())}", kept)

    return _run(
        ctx,
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
    ctx: Context,
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
        today = today or ctx.clock().date()
        kind = "archive" if end < today - timedelta(days=ARCHIVE_AFTER_DAYS) else "forecast"
    url, params = open_meteo.weather_request(kind, lat, lon, start, end, base_url)

    def to_silver(parsed: pa.Table) -> tuple[pa.Table, str]:
        la, lo = parsed["latitude"][0].as_py(), parsed["longitude"][0].as_py()
        where = f"latitude = {sql_num(la)} AND longitude = {sql_num(lo)}"
        return parsed, _range_predicate(where, parsed)

    return _run(
        ctx,
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
    ctx: Context,
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
        where = f"latitude = {sql_num(latitude)} AND longitude = {sql_num(longitude)}"
        return parsed, _range_predicate(where, parsed)

    url = path.resolve().as_uri()
    return _run(ctx, LCL_WEATHER_SOURCE, url, {}, parse, to_silver, SILVER_WEATHER, None, body)


def ingest_lcl_weather_files(ctx: Context, files: list[Path]) -> LandingSummary:
    """Land Dark Sky weather files (`ingest_lcl_weather` each); one outcome per file."""
    summary = LandingSummary(run_id=f"ingest-{LCL_WEATHER_SOURCE}")
    for p in files:
        res = ingest_lcl_weather(ctx, p)
        if res.status == "failed":
            raise InputError(f"{p}: {res.message}")
        summary.run_id = res.run_id
        summary.files.append(
            Landed(
                str(p),
                res.batch_id or "",
                "lcl-weather",
                "ingested" if res.new_body else "skipped",
                lines=res.rows_parsed,
                landed=res.rows_merged,
                message=res.message,
            )
        )
    return summary


def ingest_pv(
    ctx: Context,
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
            f"latitude = {sql_num(la)} AND longitude = {sql_num(lo)} AND "
            f"peak_power_kwp = {sql_num(peak_power_kwp)} AND tilt_deg = {sql_num(tilt_deg)}"
            f" AND azimuth_deg = {sql_num(azimuth_deg)}"
        )
        return out, _range_predicate(where, out)

    return _run(
        ctx,
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
    return f"{where} AND ts >= {sql_ts(lo.as_py())} AND ts <= {sql_ts(hi.as_py())}"


def _run(
    ctx: Context,
    source: str,
    url: str,
    params: Params,
    parse: Callable[[bytes], pa.Table],
    to_silver: Callable[[pa.Table], tuple[pa.Table, str]],
    silver: TableSpec,
    client: HttpClient | None,
    body: bytes | None = None,
) -> ExternalOutcome:
    run_id = f"ingest-{source}-" + uuid.uuid4().hex[:12]
    log = get_logger(run_id=run_id, step="ingest_external", source=source)
    t0 = time.perf_counter()
    started = ctx.clock()
    step = f"ingest_{source}"

    def record(status: str, **kw: object) -> None:
        record_runs(
            ctx.lake,
            [
                RunRecord(
                    run_id=run_id,
                    step=step,
                    source=str(kw.pop("url", url)),
                    started_at=started,
                    duration_s=time.perf_counter() - t0,
                    status=status,
                    **kw,  # type: ignore[arg-type]
                )
            ],
        )

    if body is not None:
        fetched: Fetched = Fetched(build_url(url, params), 200, body, started)
    else:
        own = client is None
        http = client or make_client(ctx.settings)
        try:
            fetched = http.get(url, params)
        except HttpError as exc:
            record("failed", url=exc.url, message=str(exc))
            log.warning("external_failed", url=exc.url, reason=str(exc))
            return ExternalOutcome(source, exc.url, run_id, None, "failed", message=str(exc))
        finally:
            if own:
                http.close()
    full_url = fetched.url
    checksum = hashlib.sha256(fetched.content).hexdigest()
    batch_id = batch_id_for(checksum)
    text = fetched.content.decode("utf-8", errors="replace")
    response = {
        "source": source,
        "url": full_url,
        "params": json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True),
        "status": fetched.status,
        "fetched_at": fetched.fetched_at,
        "checksum": checksum,
        "content_length": len(fetched.content),
        "body": text,
        "_row_number": 0,
        "_record_id": checksum,
    }
    bronze = Batch(
        spec=BRONZE_API_RESPONSES,
        rows=pa.Table.from_pylist([response]),
        source=full_url,
        fmt=source,
        checksum=checksum,
        lines=1,
        record_key=None,  # the body's SHA-256 is its record id
        manifest=False,  # API bodies are identified in bronze itself
    )
    new_body = land(ctx, [bronze], now=started)[0].landed > 0
    try:
        parsed = parse(fetched.content)
        rows, predicate = to_silver(parsed)
    except WattlakeError as exc:
        dead = pa.table(
            {
                "line_number": pa.array([0], pa.int64()),
                "raw_text": [text[:DEAD_LETTER_CHARS]],
                "reason": [str(exc)],
            }
        )
        ctx.lake.insert_new(
            cat.OPS_DEAD_LETTER, dead_letter_rows(dead, batch_id, full_url, started)
        )
        record(
            "failed",
            url=full_url,
            batch_id=batch_id,
            checksum=checksum,
            rows_dead_letter=1,
            message=str(exc),
        )
        log.warning("external_failed", url=full_url, reason=str(exc))
        return ExternalOutcome(source, full_url, run_id, batch_id, "failed", message=str(exc))
    n = rows.num_rows
    rows = rows.append_column("source", pa.array([source] * n, pa.string())).append_column(
        "_batch_id", pa.array([batch_id] * n, pa.string())
    )
    if n:
        ctx.lake.replace_where(silver, rows, predicate)
        mark_external(ctx.lake, batch_id, run_id, started)
    msg = "" if new_body else "same response body already in bronze"
    record(
        "success",
        url=full_url,
        batch_id=batch_id,
        checksum=checksum,
        rows_in=parsed.num_rows,
        rows_out=n,
        message=msg,
    )
    log.info("external_ingested", url=full_url, rows=n, new_body=new_body)
    return ExternalOutcome(
        source, full_url, run_id, batch_id, "success", parsed.num_rows, n, new_body, msg
    )
