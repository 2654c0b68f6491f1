"""`wattlake ingest DB --format sqlite-agreements`: meterpoints, products and agreements.

Each database is read and validated before anything is written. Its rows land raw (text)
in `bronze.sme_*` (MERGE on `_record_id`, so unchanged rows are never landed twice), the
valid rows go typed to `silver.meterpoints`, `silver.products`, `silver.agreements` (one row
per id; the database ingested last wins for the ids it contains) and the invalid rows go to
`ops.dead_letter` with the reason. A database whose SHA-256 is in `ops.manifest` is skipped.
Per database: records = bronze landed + bronze duplicates = silver accepted + dead letters.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.lake import catalog as cat
from wattlake.lake.predicates import sql_in
from wattlake.lake.spec import UTC_TS, TableSpec
from wattlake.landing import (
    Batch,
    Landed,
    LandingSummary,
    batch_id_for,
    known_checksums,
    land,
    new_ingest_run,
    record_ids,
    text_key,
)
from wattlake.logs import bind_batch, get_logger
from wattlake.runlog import record_runs
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


def record_key(table: str) -> str:
    """SHA-256 input of a raw row of `table`: the table name and its fields (NULL → '')."""
    return text_key(SQLITE_TABLES[table], prefix=table)


def silver_rows(
    typed: pa.Table, rids: dict[int, str], batch_id: str, source: str, now: datetime
) -> pa.Table:
    """Validated rows + lineage (`rids`: record number → the bronze `_record_id`)."""
    n = typed.num_rows
    return (
        typed.append_column(
            "_record_id", pa.array([rids[r] for r in typed["_row_number"].to_pylist()], pa.string())
        )
        .append_column("_batch_id", pa.array([batch_id] * n, pa.string()))
        .append_column("_source_file", pa.array([source] * n, pa.string()))
        .append_column("_loaded_at", pa.array([now] * n, UTC_TS))
    )


def _dead_of(snap: AgreementsSnapshot, valid: ValidatedAgreements, table: str) -> pa.Table:
    """The dead letters of `valid` whose record belongs to `table`."""
    rows = set(snap.tables[table]["_row_number"].to_pylist())
    keep = [ln in rows for ln in valid.dead["line_number"].to_pylist()]
    return valid.dead.filter(pa.array(keep, pa.bool_()))


def ingest_agreements(
    ctx: Context,
    files: list[Path],
    *,
    now: datetime | None = None,
) -> LandingSummary:
    """Land SQLite agreement databases (see the module docstring); one outcome per table."""
    if not files:
        raise InputError("no input files given")
    now = now or ctx.clock()
    run_id = new_ingest_run()
    log = get_logger(run_id=run_id, step="ingest")
    parsed = []
    for p in files:  # 1. read + validate all: a bad database stops before any write
        snap = read_sqlite_agreements(p)
        parsed.append((snap, validate_agreements(snap)))

    known = known_checksums(ctx)
    summary = LandingSummary(run_id=run_id)
    for snap, valid in parsed:
        batch_id = batch_id_for(snap.checksum)
        bind_batch(batch_id=batch_id)
        if snap.checksum in known:
            msg = f"already ingested as batch {known[snap.checksum]} (same SHA-256)"
            summary.files.append(
                Landed(
                    snap.source_file,
                    batch_id,
                    AGREEMENTS_FORMAT,
                    "skipped",
                    message=msg,
                    checksum=snap.checksum,
                )
            )
            log.info("file_skipped", file=snap.source_file, reason=msg)
            continue
        # 2. Write, per database: bronze, dead letters, manifest; then silver (replace the
        # ids it contains: the database ingested last wins).
        batches = [
            Batch(
                spec=BRONZE[table],
                rows=raw,
                source=snap.source_file,
                fmt=AGREEMENTS_FORMAT,
                checksum=snap.checksum,
                lines=raw.num_rows,
                record_key=record_key(table),
                dead=_dead_of(snap, valid, table),
                label=f"{snap.source_file}#{table}",
            )
            for table, raw in snap.tables.items()
        ]
        outcomes = land(ctx, batches, now=now, known=known)
        typed = {
            "meterpoints": valid.meterpoints,
            "products": valid.products,
            "agreements": valid.agreements,
        }
        for (table, raw), out in zip(snap.tables.items(), outcomes, strict=True):
            spec, key = SILVER[table]
            rids = record_ids(ctx, raw, record_key(table))
            by_line = dict(zip(raw["_row_number"].to_pylist(), rids.to_pylist(), strict=True))
            silver = silver_rows(typed[table], by_line, batch_id, snap.source_file, now)
            if silver.num_rows:
                ids = silver[key].to_pylist()
                ctx.lake.replace_where(spec, silver, f"{key} IN {sql_in(ids)}")
            else:
                ctx.lake.ensure(spec)
            out.message = f"silver: {silver.num_rows:,} accepted"
            log.info(
                "table_ingested",
                file=out.source_file,
                rows=out.lines,
                landed=out.landed,
                duplicates=out.duplicates,
                dead_letters=out.dead_letters,
                silver=silver.num_rows,
            )
        summary.files.extend(outcomes)

    bind_batch(batch_id=run_id)
    record_runs(ctx.lake, [o.run_record(run_id, now) for o in summary.files])
    log.info(
        "ingest_done", files=len(parsed), landed=summary.landed, dead_letters=summary.dead_letters
    )
    return summary
