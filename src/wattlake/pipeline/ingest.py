"""`wattlake ingest`: land meter and profile files in bronze, idempotently.

Every file is read and checked before anything is written, so a bad file in a list leaves
the lake unchanged. A file whose SHA-256 is in `ops.manifest` is skipped; rows whose
`_record_id` is already in bronze are counted as duplicates and not landed again (MERGE).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from wattlake.config import Settings
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.spec import UTC_TS, conform
from wattlake.logs import bind_batch, clear_context, get_logger
from wattlake.sources.files import (
    LAYOUTS,
    ParsedFile,
    expand_paths,
    parse_lines,
    read_bytes,
)

# The LCL data set's `weather_hourly_darksky.csv`: lands in silver.weather, not in bronze
# readings (see `external.ingest_lcl_weather`).
LCL_WEATHER_FORMAT = "lcl-weather"


@dataclass
class FileOutcome:
    source_file: str
    batch_id: str
    fmt: str
    status: str  # "ingested" | "skipped"
    lines: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    message: str = ""


@dataclass
class IngestSummary:
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return sum(f.landed for f in self.files)

    @property
    def dead_letters(self) -> int:
        return sum(f.dead_letters for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)


def batch_id_for(checksum: str) -> str:
    """Deterministic batch id: the same bytes always form the same batch."""
    return "b" + checksum[:16]


def _with_lineage(parsed: ParsedFile, batch_id: str, now: datetime) -> pa.Table:
    """Add lineage columns and `_record_id` = SHA-256(meter|timestamp|value|unit)."""
    rows = parsed.rows
    n = rows.num_rows
    con = duckdb.connect()
    if parsed.fmt == "users":
        key_sql = (
            "concat_ws('|', "
            + ", ".join(f"coalesce({c}, '')" for c in rows.column_names if c != "_row_number")
            + ")"
        )
    else:
        unit = "coalesce(unit, '')" if "unit" in rows.column_names else "''"
        key_sql = f"concat_ws('|', meter_id, timestamp, value, {unit})"
    rid = con.execute(f"SELECT sha256({key_sql}) AS r FROM rows").to_arrow_table()["r"]
    con.close()
    out = rows.append_column("_record_id", rid)
    out = out.append_column("_batch_id", pa.array([batch_id] * n, pa.string()))
    out = out.append_column("_source_file", pa.array([parsed.source_file] * n, pa.string()))
    out = out.append_column("_ingested_at", pa.array([now] * n, UTC_TS))
    out = out.append_column("ingest_date", pa.array([now.date().isoformat()] * n, pa.string()))
    if parsed.fmt != "users":
        out = out.append_column("_format", pa.array([parsed.fmt] * n, pa.string()))
    return out


def _first_unseen(rows: pa.Table, seen: set[str]) -> pa.Table:
    """Rows whose record id is neither in `seen` nor earlier in `rows` (first occurrence kept)."""
    ids = rows["_record_id"].to_pylist()
    keep = []
    for rid in ids:
        if rid in seen:
            keep.append(False)
        else:
            seen.add(rid)
            keep.append(True)
    return rows.filter(pa.array(keep, pa.bool_()))


def _is_sqlite_file(path: Path) -> bool:
    from wattlake.sources.smart_meter_etl import SQLITE_MAGIC

    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(16) == SQLITE_MAGIC


def _is_lcl_weather_file(path: Path) -> bool:
    """The LCL data set's Dark Sky weather file (by its header)."""
    if not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.readline(4096).decode("utf-8", errors="replace").lower()
    cols = {c.strip().strip('"') for c in head.split(",")}
    return {"time", "temperature", "windspeed", "windbearing"} <= cols


def _ingest_lcl_weather(settings: Settings, files: list[Path], run_id: str) -> IngestSummary:
    """Land Dark Sky weather files like an API response (`external.ingest_lcl_weather`)."""
    from wattlake.pipeline.external import ingest_lcl_weather

    summary = IngestSummary(run_id=run_id)
    for p in files:
        res = ingest_lcl_weather(settings, p)
        if res.status == "failed":
            raise InputError(f"{p}: {res.message}")
        summary.files.append(
            FileOutcome(
                str(p),
                res.batch_id or "",
                LCL_WEATHER_FORMAT,
                "ingested" if res.new_body else "skipped",
                lines=res.rows_parsed,
                landed=res.rows_merged,
                message=res.message,
            )
        )
    return summary


def parse_file(data: bytes, fmt: str | None, name: str) -> ParsedFile:
    """Readings JSON (`readings-json`, also detected when the file starts with `[` or `{`)
    or one of the CSV layouts of `wattlake.sources.files`."""
    from wattlake.sources import smart_meter_etl as sme

    known = (*LAYOUTS, sme.READINGS_FORMAT, sme.AGREEMENTS_FORMAT, LCL_WEATHER_FORMAT)
    if fmt is not None and fmt not in known:
        raise InputError(f"unknown format '{fmt}' (known: {', '.join(known)})")
    if fmt == sme.READINGS_FORMAT or (fmt is None and sme.looks_like_json(data)):
        return sme.parse_readings_json(data, name)
    if fmt is None and sme.is_sqlite(data):
        raise InputError(
            f"{name}: a SQLite database; ingest it without other files "
            f"(or give --format {sme.AGREEMENTS_FORMAT})"
        )
    return parse_lines(data, fmt, name)


def start_ingest(settings: Settings, now: datetime | None) -> tuple[datetime, Lake, str, Any]:
    """What an ingest command starts with: its time (`now`, else the current UTC time), the
    lake, a new run id (`ingest-<12 hex>`), and a logger; the log context is reset to the run."""
    run_id = "ingest-" + uuid.uuid4().hex[:12]
    clear_context()
    bind_batch(batch_id=run_id)
    log = get_logger(run_id=run_id, step="ingest")
    return now or datetime.now(UTC), Lake(settings.home), run_id, log


def ingest_files(
    settings: Settings,
    paths: list[Path],
    fmt: str | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Land files in bronze (`meter_readings` or `user_profiles`); see the module docstring."""
    now, lake, run_id, log = start_ingest(settings, now)
    files = expand_paths(paths)
    if not files:
        raise InputError("no input files given")
    if fmt == "sqlite-agreements" or (fmt is None and all(map(_is_sqlite_file, files))):
        from wattlake.pipeline.smart_meter_etl import ingest_agreements

        return ingest_agreements(settings, files, now=now, progress=progress)
    if fmt == LCL_WEATHER_FORMAT or (fmt is None and all(map(_is_lcl_weather_file, files))):
        return _ingest_lcl_weather(settings, files, run_id)

    # 1. Read and parse everything first: a bad file stops the command before any write.
    parsed: list[tuple[ParsedFile, float]] = []
    for p in files:
        t0 = time.perf_counter()
        parsed.append((parse_file(read_bytes(p), fmt, str(p)), t0))

    known = dict(
        zip(
            lake.read(cat.OPS_MANIFEST, ["checksum"])["checksum"].to_pylist(),
            lake.read(cat.OPS_MANIFEST, ["batch_id"])["batch_id"].to_pylist(),
            strict=True,
        )
    )
    summary = IngestSummary(run_id=run_id)
    seen: dict[str, set[str]] = {}
    landing: dict[str, list[pa.Table]] = {}
    dead_rows: list[pa.Table] = []
    manifest_rows: list[dict[str, object]] = []
    run_rows: list[dict[str, object]] = []

    parsed.reverse()
    while parsed:
        # Popped: a file's parsed rows are freed once its new rows are in `landing`.
        pf, t0 = parsed.pop()
        batch_id = batch_id_for(pf.checksum)
        bind_batch(batch_id=batch_id)
        if pf.checksum in known:
            msg = f"already ingested as batch {known[pf.checksum]} (same SHA-256)"
            summary.files.append(
                FileOutcome(pf.source_file, batch_id, pf.fmt, "skipped", message=msg)
            )
            run_rows.append(
                run_row(
                    run_id,
                    batch_id,
                    pf.source_file,
                    pf.checksum,
                    0,
                    0,
                    0,
                    0,
                    t0,
                    now,
                    "skipped",
                    msg,
                )
            )
            log.info("file_skipped", file=pf.source_file, reason=msg)
            continue
        known[pf.checksum] = batch_id
        spec = cat.BRONZE_USERS if pf.fmt == "users" else cat.BRONZE_READINGS
        if spec.qualified not in seen:
            existing = lake.read(spec, ["_record_id"])["_record_id"].to_pylist()
            seen[spec.qualified] = set(existing)
        rows = _with_lineage(pf, batch_id, now)
        new = _first_unseen(rows, seen[spec.qualified])
        landing.setdefault(spec.qualified, []).append(conform(new, spec))
        dup = rows.num_rows - new.num_rows
        n_dead = pf.dead.num_rows
        if n_dead:
            d = pf.dead
            dead_rows.append(
                d.append_column("batch_id", pa.array([batch_id] * n_dead, pa.string()))
                .append_column("source_file", pa.array([pf.source_file] * n_dead, pa.string()))
                .append_column("recorded_at", pa.array([now] * n_dead, UTC_TS))
            )
        manifest_rows.append(
            {
                "checksum": pf.checksum,
                "source_file": pf.source_file,
                "format": pf.fmt,
                "batch_id": batch_id,
                "rows": new.num_rows,
                "ingested_at": now,
            }
        )
        run_rows.append(
            run_row(
                run_id,
                batch_id,
                pf.source_file,
                pf.checksum,
                pf.lines,
                new.num_rows,
                dup,
                n_dead,
                t0,
                now,
                "success",
                "",
            )
        )
        summary.files.append(
            FileOutcome(
                pf.source_file, batch_id, pf.fmt, "ingested", pf.lines, new.num_rows, dup, n_dead
            )
        )
        log.info(
            "file_parsed",
            file=pf.source_file,
            lines=pf.lines,
            landed=new.num_rows,
            duplicates=dup,
            dead_letters=n_dead,
        )
        if progress:
            progress(pf.source_file)

    bind_batch(batch_id=run_id)
    # 2. Write: bronze (MERGE on _record_id), then dead letters, manifest, runs.
    for qualified, parts in landing.items():
        spec = cat.BRONZE_USERS if qualified == cat.BRONZE_USERS.qualified else cat.BRONZE_READINGS
        lake.insert_new(spec, pa.concat_tables(parts))
    if dead_rows:
        lake.insert_new(cat.OPS_DEAD_LETTER, pa.concat_tables(dead_rows))
    if manifest_rows:
        lake.insert_new(cat.OPS_MANIFEST, pa.Table.from_pylist(manifest_rows))
    lake.append(cat.OPS_RUNS, pa.Table.from_pylist(run_rows))
    log.info(
        "ingest_done",
        files=len(summary.files),
        landed=summary.landed,
        dead_letters=summary.dead_letters,
        duplicates=summary.duplicates,
    )
    return summary


def run_row(
    run_id: str,
    batch_id: str,
    source: str,
    checksum: str,
    rows_in: int,
    landed: int,
    dup: int,
    dead: int,
    t0: float,
    now: datetime,
    status: str,
    message: str,
) -> dict[str, object]:
    """One `ops.runs` row of a file ingest (`t0`: `perf_counter` at the file's start)."""
    return {
        "run_id": run_id,
        "batch_id": batch_id,
        "step": "ingest",
        "source": source,
        "engine": "duckdb",
        "profile": None,
        "rows_in": rows_in,
        "rows_out": landed,
        "rows_quarantined": 0,
        "rows_dead_letter": dead,
        "rows_duplicate": dup,
        "checksum": checksum,
        "started_at": now,
        "duration_s": round(time.perf_counter() - t0, 4),
        "status": status,
        "message": message,
    }
