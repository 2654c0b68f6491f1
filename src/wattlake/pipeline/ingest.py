"""`wattlake ingest FILES`: land meter and profile files in bronze, idempotently.

Every file is checked before anything is written (its layout, gzip integrity, whole-document
formats parsed), so a bad file in a list leaves the lake unchanged; then files are parsed and
landed in chunks of about `LAND_CHUNK_ROWS` rows, so memory stays bounded. Each file's format
comes from `--format` or its content (`pipeline.formats`); row formats land through
`landing.land` (manifest, record ids, dead letters), whole-file formats (`sqlite-agreements`,
`lcl-weather`) through their own lander.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.landing import Batch, Landed, LandingSummary, known_checksums, land, new_ingest_run
from wattlake.logs import get_logger
from wattlake.pipeline import formats
from wattlake.runlog import record_runs
from wattlake.sources.files import expand_paths, read_bytes, read_head

# Rows landed together (one DuckDB pass and one append per chunk): bounds an ingest's memory
# to about this many parsed rows (≈ 1.5 GB at 4 M), whatever the number and size of the files.
LAND_CHUNK_ROWS = 4_000_000


def _whole_file(ctx: Context, fmt: str, files: list[Path], now: datetime) -> LandingSummary:
    # Imported here: these landers are whole pipelines of their own (silver included).
    if fmt == formats.AGREEMENTS_FORMAT:
        from wattlake.pipeline.smart_meter_etl import ingest_agreements

        return ingest_agreements(ctx, files, now=now)
    from wattlake.pipeline.external import ingest_lcl_weather_files

    return ingest_lcl_weather_files(ctx, files)


def ingest_files(
    ctx: Context,
    paths: list[Path],
    fmt: str | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> LandingSummary:
    """Land files in bronze (`meter_readings` or `user_profiles`); see the module docstring."""
    now = now or ctx.clock()
    files = expand_paths(paths)
    if not files:
        raise InputError("no input files given")
    run_id = new_ingest_run()
    log = get_logger(run_id=run_id, step="ingest")

    # 1. Check every file before anything is written: its format from the first bytes (a
    # gzip file decompressed to its end), whole-document formats parsed in full.
    rows_files: list[tuple[Path, str]] = []
    skipped: list[Landed] = []
    whole: dict[str, list[Path]] = {}
    for p in files:
        f = formats.resolve(read_head(p), fmt, str(p))
        if f in formats.SKIPPED:
            skipped.append(Landed(str(p), "", f, "skipped", message=formats.SKIPPED[f]))
        elif f in formats.FILE_FORMATS:
            whole.setdefault(f, []).append(p)
        else:
            if formats.ROW_FORMATS[f].checked_whole:
                formats.parse(read_bytes(p), f, str(p))
            rows_files.append((p, f))
    if whole:
        if rows_files or len(whole) > 1:
            f, ps = next(iter(whole.items()))
            raise InputError(
                f"{ps[0]}: a {f} file; ingest it without other files (or give --format {f})"
            )
        ((f, ps),) = whole.items()
        summary = _whole_file(ctx, f, ps, now)
        summary.files[:0] = skipped
        return summary

    # 2. Parse and land file by file, in chunks of about LAND_CHUNK_ROWS rows (memory stays
    # bounded whatever the input): bronze (new records only), dead letters, manifest.
    summary = LandingSummary(run_id, list(skipped))
    known = known_checksums(ctx)
    pending: list[Batch] = []
    rows = 0

    def flush() -> None:
        nonlocal pending, rows
        for o in land(ctx, pending, now=now, known=known):
            summary.files.append(o)
            if progress:
                progress(o.source_file)
        pending, rows = [], 0

    for p, f in rows_files:
        batch = formats.ROW_FORMATS[f].batch(formats.parse(read_bytes(p), f, str(p)))
        pending.append(batch)
        rows += batch.rows.num_rows
        if rows >= LAND_CHUNK_ROWS:
            flush()
    flush()
    record_runs(ctx.lake, [o.run_record(run_id, now) for o in summary.files if o.batch_id])
    for o in summary.files:
        log.info(
            "file_landed" if o.status == "ingested" else "file_skipped",
            file=o.source_file,
            lines=o.lines,
            landed=o.landed,
            duplicates=o.duplicates,
            dead_letters=o.dead_letters,
            message=o.message,
        )
    log.info(
        "ingest_done",
        files=len(summary.files),
        landed=summary.landed,
        dead_letters=summary.dead_letters,
        duplicates=summary.duplicates,
    )
    return summary
