"""`wattlake ingest FILES`: land meter and profile files in bronze, idempotently.

Every file is read and checked before anything is written, so a bad file in a list leaves
the lake unchanged. Each file's format comes from `--format` or its content
(`pipeline.formats`); row formats land through `landing.land` (manifest, record ids, dead
letters), whole-file formats (`sqlite-agreements`, `lcl-weather`) through their own lander.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.landing import Landed, LandingSummary, land, new_ingest_run
from wattlake.logs import get_logger
from wattlake.pipeline import formats
from wattlake.runlog import record_runs
from wattlake.sources.files import ParsedFile, expand_paths, read_bytes


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

    # 1. Read and parse everything first: a bad file stops the command before any write.
    parsed: list[ParsedFile] = []
    skipped: list[Landed] = []
    whole: dict[str, list[Path]] = {}
    for p in files:
        data = read_bytes(p)
        f = formats.resolve(data, fmt, str(p))
        if f in formats.SKIPPED:
            skipped.append(Landed(str(p), "", f, "skipped", message=formats.SKIPPED[f]))
        elif f in formats.FILE_FORMATS:
            whole.setdefault(f, []).append(p)
        else:
            parsed.append(formats.parse(data, f, str(p)))
    if whole:
        if parsed or len(whole) > 1:
            f, ps = next(iter(whole.items()))
            raise InputError(
                f"{ps[0]}: a {f} file; ingest it without other files (or give --format {f})"
            )
        ((f, ps),) = whole.items()
        summary = _whole_file(ctx, f, ps, now)
        summary.files[:0] = skipped
        return summary

    # 2. Land: bronze (new records only), dead letters, manifest; then one ops.runs row each.
    summary = LandingSummary(run_id)
    summary.files = skipped + land(
        ctx, [formats.ROW_FORMATS[pf.fmt].batch(pf) for pf in parsed], now=now
    )
    del parsed
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
        if progress:
            progress(o.source_file)
    log.info(
        "ingest_done",
        files=len(summary.files),
        landed=summary.landed,
        dead_letters=summary.dead_letters,
        duplicates=summary.duplicates,
    )
    return summary
