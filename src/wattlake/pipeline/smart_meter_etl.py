"""`wattlake ingest DB --format sqlite-agreements`: meterpoints, products and agreements.

Each database is read and validated before anything is written. Its rows land raw (text)
in `bronze.sme_*` (MERGE on `_record_id`, so unchanged rows are never landed twice), the
valid rows go typed to `silver.meterpoints`, `silver.products`, `silver.agreements` (one row
per id; the database ingested last wins for the ids it contains) and the invalid rows go to
`ops.dead_letter` with the reason. A database whose SHA-256 is in `ops.manifest` is skipped.
Per database: records = bronze landed + bronze duplicates = silver accepted + dead letters.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from wattlake.config import Settings
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_in
from wattlake.lake.spec import UTC_TS, TableSpec
from wattlake.logs import bind_batch
from wattlake.pipeline.ingest import (
    FileOutcome,
    IngestSummary,
    batch_id_for,
    run_row,
    start_ingest,
)
from wattlake.sources.smart_meter_etl import (
    AGREEMENTS_FORMAT,
    SQLITE_TABLES,
    AgreementsSnapshot,
    ValidatedAgreements,
    read_sqlite_agreements,
    validate_agreements,
)

BRONZE: dict[str, TableSpec] = {
    "meterpoints": cat.BRONZE_SME_METERPOINTS,
    "products": cat.BRONZE_SME_PRODUCTS,
    "agreements": cat.BRONZE_SME_AGREEMENTS,
}
SILVER: dict[str, tuple[TableSpec, str]] = {
    "meterpoints": (cat.SILVER_METERPOINTS, "meterpoint_id"),
    "products": (cat.SILVER_PRODUCTS, "product_id"),
    "agreements": (cat.SILVER_AGREEMENTS, "agreement_id"),
}


def record_ids(table: str, raw: pa.Table) -> list[str]:
    """`_record_id` per raw row: SHA-256 of the table name and its fields (NULL → '')."""
    cols = [raw[c].to_pylist() for c in SQLITE_TABLES[table]]
    return [
        hashlib.sha256(
            "|".join([table, *("" if v is None else v for v in vals)]).encode()
        ).hexdigest()
        for vals in zip(*cols, strict=True)
    ]


def bronze_rows(table: str, raw: pa.Table, batch_id: str, source: str, now: datetime) -> pa.Table:
    """Raw rows + lineage columns for `bronze.sme_<table>`."""
    n = raw.num_rows
    return (
        raw.append_column("_record_id", pa.array(record_ids(table, raw), pa.string()))
        .append_column("_batch_id", pa.array([batch_id] * n, pa.string()))
        .append_column("_source_file", pa.array([source] * n, pa.string()))
        .append_column("_ingested_at", pa.array([now] * n, UTC_TS))
    )


def silver_rows(
    typed: pa.Table, bronze: pa.Table, batch_id: str, source: str, now: datetime
) -> pa.Table:
    """Validated rows + lineage (the bronze `_record_id` of the same record number)."""
    rid = dict(
        zip(bronze["_row_number"].to_pylist(), bronze["_record_id"].to_pylist(), strict=True)
    )
    n = typed.num_rows
    return (
        typed.append_column(
            "_record_id", pa.array([rid[r] for r in typed["_row_number"].to_pylist()], pa.string())
        )
        .append_column("_batch_id", pa.array([batch_id] * n, pa.string()))
        .append_column("_source_file", pa.array([source] * n, pa.string()))
        .append_column("_loaded_at", pa.array([now] * n, UTC_TS))
    )


def _table_of(snap: AgreementsSnapshot) -> dict[int, str]:
    """Record number → source table name."""
    return {r: name for name, t in snap.tables.items() for r in t["_row_number"].to_pylist()}


@dataclass
class _Parsed:
    snap: AgreementsSnapshot
    valid: ValidatedAgreements
    t0: float


def ingest_agreements(
    settings: Settings,
    files: list[Path],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Land SQLite agreement databases (see the module docstring); one outcome per table."""
    now, lake, run_id, log = start_ingest(settings, now)
    if not files:
        raise InputError("no input files given")

    parsed: list[_Parsed] = []
    for p in files:  # 1. read + validate all: a bad database stops before any write
        t0 = time.perf_counter()
        snap = read_sqlite_agreements(p)
        parsed.append(_Parsed(snap, validate_agreements(snap), t0))

    m = lake.read(cat.OPS_MANIFEST, ["checksum", "batch_id"])
    known = dict(zip(m["checksum"].to_pylist(), m["batch_id"].to_pylist(), strict=True))
    seen = {
        t: set(lake.read(spec, ["_record_id"])["_record_id"].to_pylist())
        for t, spec in BRONZE.items()
    }
    summary = IngestSummary(run_id=run_id)
    run_rows: list[dict[str, object]] = []

    for item in parsed:
        snap, valid = item.snap, item.valid
        batch_id = batch_id_for(snap.checksum)
        bind_batch(batch_id=batch_id)
        if snap.checksum in known:
            msg = f"already ingested as batch {known[snap.checksum]} (same SHA-256)"
            summary.files.append(
                FileOutcome(snap.source_file, batch_id, AGREEMENTS_FORMAT, "skipped", message=msg)
            )
            run_rows.append(
                run_row(
                    run_id,
                    batch_id,
                    snap.source_file,
                    snap.checksum,
                    0,
                    0,
                    0,
                    0,
                    item.t0,
                    now,
                    "skipped",
                    msg,
                )
            )
            log.info("file_skipped", file=snap.source_file, reason=msg)
            continue
        known[snap.checksum] = batch_id
        owner = _table_of(snap)
        dead_by_table: dict[str, int] = {}
        for ln in valid.dead["line_number"].to_pylist():
            dead_by_table[owner[ln]] = dead_by_table.get(owner[ln], 0) + 1
        typed = {
            "meterpoints": valid.meterpoints,
            "products": valid.products,
            "agreements": valid.agreements,
        }
        landed_total = 0
        # 2. Write, per database: bronze, silver (replace the ids it contains), dead letters.
        for table, raw in snap.tables.items():
            rows = bronze_rows(table, raw, batch_id, snap.source_file, now)
            keep = []
            for rid in rows["_record_id"].to_pylist():
                keep.append(rid not in seen[table])
                seen[table].add(rid)
            new = rows.filter(pa.array(keep, pa.bool_()))
            lake.insert_new(BRONZE[table], new)
            landed_total += new.num_rows
            spec, key = SILVER[table]
            silver = silver_rows(typed[table], rows, batch_id, snap.source_file, now)
            if silver.num_rows:
                ids = silver[key].to_pylist()
                lake.replace_where(spec, silver, f"{key} IN {sql_in(ids)}")
            else:
                lake.ensure(spec)
            dup, n_dead = rows.num_rows - new.num_rows, dead_by_table.get(table, 0)
            source = f"{snap.source_file}#{table}"
            msg = f"silver: {silver.num_rows:,} accepted"
            summary.files.append(
                FileOutcome(
                    source,
                    batch_id,
                    AGREEMENTS_FORMAT,
                    "ingested",
                    raw.num_rows,
                    new.num_rows,
                    dup,
                    n_dead,
                    msg,
                )
            )
            run_rows.append(
                run_row(
                    run_id,
                    batch_id,
                    source,
                    snap.checksum,
                    raw.num_rows,
                    new.num_rows,
                    dup,
                    n_dead,
                    item.t0,
                    now,
                    "success",
                    msg,
                )
            )
            log.info(
                "table_ingested",
                file=source,
                rows=raw.num_rows,
                landed=new.num_rows,
                duplicates=dup,
                dead_letters=n_dead,
                silver=silver.num_rows,
            )
        if valid.dead.num_rows:
            n = valid.dead.num_rows
            dead = (
                valid.dead.append_column("batch_id", pa.array([batch_id] * n, pa.string()))
                .append_column("source_file", pa.array([snap.source_file] * n, pa.string()))
                .append_column("recorded_at", pa.array([now] * n, UTC_TS))
            )
            lake.insert_new(cat.OPS_DEAD_LETTER, dead)
        lake.insert_new(
            cat.OPS_MANIFEST,
            pa.Table.from_pylist(
                [
                    {
                        "checksum": snap.checksum,
                        "source_file": snap.source_file,
                        "format": AGREEMENTS_FORMAT,
                        "batch_id": batch_id,
                        "rows": landed_total,
                        "ingested_at": now,
                    }
                ]
            ),
        )
        if progress:
            progress(snap.source_file)

    bind_batch(batch_id=run_id)
    lake.append(cat.OPS_RUNS, pa.Table.from_pylist(run_rows))
    log.info(
        "ingest_done", files=len(parsed), landed=summary.landed, dead_letters=summary.dead_letters
    )
    return summary
