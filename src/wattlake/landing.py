"""The one landing path: parsed batches → bronze, with lineage, record ids, de-duplication,
manifest and dead letters. File ingest, API ingest, the SQLite agreements and a stream
consumer's micro-batches all land through `land`.

A `Batch` is the parsed rows of one input unit (a file, one table of a database, an API body,
a micro-batch) for one bronze table: the raw fields as text plus `_row_number` (line, record
or offset), its dead letters, and where it came from. `land`:

1. skips every batch whose checksum is in `ops.manifest` (the same bytes are never landed
   twice), and a second batch of the same checksum and table within one call;
2. adds lineage: `_batch_id` (`b` + 16 hex of the checksum unless given), `_source_file`,
   `_ingested_at`, `ingest_date` (and `_format` for readings);
3. computes `_record_id` = SHA-256 of the batch's `record_key` (SQL over its fields, e.g.
   meter|timestamp|value|unit);
4. keeps the first occurrence of each record id (earlier batches first, then `_row_number`)
   and drops the ids already stored — looked up only among the stored rows of the same meter
   range, which the meter-clustered bronze table finds by its row-group statistics;
5. appends the new rows (one commit per table), the dead letters (`ops.dead_letter`, MERGE on
   batch and line) and one manifest row per checksum.

Row accounting per batch: lines = landed + duplicates + dead letters. The work runs in DuckDB
on Arrow data (no per-record Python objects).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.lake.delta import CLUSTERED_ROW_GROUP_ROWS
from wattlake.lake.predicates import sql_str
from wattlake.lake.spec import UTC_TS, TableSpec, conform
from wattlake.logs import bind_batch, clear_context
from wattlake.runlog import RunRecord

# SHA-256 input of a meter reading: its raw fields (`concat_ws` skips a NULL value; a missing
# unit counts as empty).
READING_KEY = "concat_ws('|', meter_id, timestamp, value, coalesce(unit, ''))"


def text_key(columns: Sequence[str], prefix: str | None = None) -> str:
    """SHA-256 input over text `columns` (NULL as empty), after an optional literal prefix."""
    parts = ([sql_str(prefix)] if prefix else []) + [f"coalesce({c}, '')" for c in columns]
    return "concat_ws('|', " + ", ".join(parts) + ")"


def batch_id_for(checksum: str) -> str:
    """Deterministic batch id: the same bytes always form the same batch."""
    return "b" + checksum[:16]


@dataclass(frozen=True)
class Batch:
    """The parsed rows of one input unit, ready to land in `spec` (a bronze table)."""

    spec: TableSpec
    rows: pa.Table  # the layout's fields as text + `_row_number`
    source: str  # `_source_file` lineage: file path, URL, or topic/partition/offsets
    fmt: str  # input layout (`_format` of bronze readings, `format` in the manifest)
    checksum: str  # SHA-256 (hex) of the bytes the rows came from
    lines: int  # input records, header excluded (= rows + dead letters)
    # SQL over the fields whose SHA-256 is `_record_id`; None: the rows carry `_record_id`.
    record_key: str | None
    dead: pa.Table | None = None  # line_number, raw_text, reason
    batch_id: str = ""  # default: batch_id_for(checksum)
    label: str = ""  # name in the outcome and ops.runs (default: source)
    manifest: bool = True  # skip known checksums; record the checksum in ops.manifest

    @property
    def id(self) -> str:
        return self.batch_id or batch_id_for(self.checksum)

    @property
    def name(self) -> str:
        return self.label or self.source


@dataclass
class Landed:
    """What landing did with one batch (rows: lines = landed + duplicates + dead letters)."""

    source_file: str
    batch_id: str
    fmt: str
    status: str  # "ingested" | "skipped"
    lines: int = 0
    landed: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    message: str = ""
    checksum: str | None = None
    seconds: float = 0.0

    def run_record(self, run_id: str, now: dt.datetime, step: str = "ingest") -> RunRecord:
        """The `ops.runs` row of this batch."""
        return RunRecord(
            run_id=run_id,
            step=step,
            source=self.source_file,
            started_at=now,
            duration_s=self.seconds,
            status="success" if self.status == "ingested" else self.status,
            batch_id=self.batch_id,
            rows_in=self.lines,
            rows_out=self.landed,
            rows_dead_letter=self.dead_letters,
            rows_duplicate=self.duplicates,
            checksum=self.checksum,
            message=self.message,
        )


@dataclass
class LandingSummary:
    """All batches of one ingest command (`run_id`), in input order."""

    run_id: str
    files: list[Landed] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return sum(f.landed for f in self.files)

    @property
    def dead_letters(self) -> int:
        return sum(f.dead_letters for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)


def new_ingest_run() -> str:
    """A new ingest run id (`ingest-<12 hex>`); the log context is reset to it."""
    run_id = "ingest-" + uuid.uuid4().hex[:12]
    clear_context()
    bind_batch(batch_id=run_id)
    return run_id


def record_ids(ctx: Context, rows: pa.Table, key: str) -> pa.Array:
    """The `_record_id` of each row of `rows` under `key` (SQL), as `land` computes it."""
    con = ctx.sql()
    con.register("wl_ids", rows)
    try:
        out = con.execute(f"SELECT sha256({key}) AS r FROM wl_ids").to_arrow_table()
    finally:
        con.unregister("wl_ids")
    return out["r"].combine_chunks()


def known_checksums(ctx: Context) -> dict[str, str]:
    """checksum → batch id of everything in `ops.manifest`."""
    m = ctx.lake.read(cat.OPS_MANIFEST, ["checksum", "batch_id"])
    return dict(zip(m["checksum"].to_pylist(), m["batch_id"].to_pylist(), strict=True))


def dead_letter_rows(dead: pa.Table, batch_id: str, source: str, now: dt.datetime) -> pa.Table:
    """`ops.dead_letter` rows of dead letters (`line_number`, `raw_text`, `reason`)."""
    n = dead.num_rows
    return (
        dead.append_column("batch_id", pa.array([batch_id] * n, pa.string()))
        .append_column("source_file", pa.array([source] * n, pa.string()))
        .append_column("recorded_at", pa.array([now] * n, UTC_TS))
    )


def _with_lineage(batch: Batch, order: int, now: dt.datetime) -> pa.Table:
    """The batch's rows in its bronze layout with lineage; `_ord` = its order in the call."""
    n = batch.rows.num_rows
    lineage = {
        "_batch_id": pa.scalar(batch.id, pa.string()),
        "_source_file": pa.scalar(batch.source, pa.string()),
        "_format": pa.scalar(batch.fmt, pa.string()),
        "_ingested_at": pa.scalar(now, UTC_TS),
        "ingest_date": pa.scalar(now.date().isoformat(), pa.string()),
    }
    rows = batch.rows
    for name, values in lineage.items():
        if name in batch.spec.column_names and name not in rows.column_names:
            rows = rows.append_column(name, pa.repeat(values, n))
    return conform(rows, batch.spec).append_column(
        "_ord", pa.repeat(pa.scalar(order, pa.int32()), n)
    )


def _land_rows(ctx: Context, spec: TableSpec, key: str | None, data: pa.Table) -> Counter[int]:
    """Append the new rows of `data` to `spec`: record ids, the first occurrence of each
    (`_ord`, then `_row_number`), minus the ids `spec` stores; sorted by the table's cluster
    columns and streamed to the writer (no second copy in memory). Returns the rows landed
    per `_ord`."""
    stored = "SELECT NULL::VARCHAR AS _record_id WHERE false"
    if ctx.lake.exists(spec):
        conds = []
        if "meter_id" in spec.cluster_by and data.num_rows:
            lo, hi = pc.min_max(data["meter_id"]).values()
            if lo.is_valid:
                conds.append(f"meter_id BETWEEN {sql_str(lo.as_py())} AND {sql_str(hi.as_py())}")
        if key == READING_KEY and data.num_rows:
            conds += _reading_text_range(data)
        where = " WHERE " + " AND ".join(conds) if conds else ""
        stored = f"SELECT _record_id FROM delta_scan({sql_str(ctx.lake.uri(spec))}){where}"
    cols = ", ".join(f'"{c}"' for c in spec.column_names if c != "_record_id")
    # Duplicates are found on the hashed text itself (cheap to partition on), then hashed.
    dedup_on = "_record_id" if key is None else key
    record_id = "_record_id" if key is None else f"sha256({key})"
    order = ", ".join([*(f'"{c}"' for c in spec.cluster_by), "_ord", "_row_number"])
    con = ctx.sql()
    con.register("wl_landing", data)
    counts: Counter[int] = Counter()
    try:
        reader = con.execute(
            f"""WITH firsts AS (
                    SELECT * FROM wl_landing
                    QUALIFY row_number() OVER (
                        PARTITION BY {dedup_on} ORDER BY _ord, _row_number) = 1
                ), ided AS (
                    SELECT * REPLACE ({record_id} AS _record_id) FROM firsts
                )
                SELECT {cols}, _record_id, _ord FROM ided
                ANTI JOIN ({stored}) s USING (_record_id)
                ORDER BY {order}"""
        ).to_arrow_reader(CLUSTERED_ROW_GROUP_ROWS)

        def counted() -> Iterator[pa.RecordBatch]:
            for b in reader:
                for item in pc.value_counts(b["_ord"]).to_pylist():
                    counts[int(item["values"])] += int(item["counts"])
                yield from conform(pa.Table.from_batches([b]), spec).to_batches()

        ctx.lake.append(spec, pa.RecordBatchReader.from_batches(spec.arrow_schema, counted()))
    finally:
        con.unregister("wl_landing")
    return counts


def _reading_text_range(data: pa.Table) -> list[str]:
    """Where a stored reading with the record id of one of `data`'s rows can be: the same
    timestamp text, so within the batch's text range (bronze files of a time-ordered source,
    such as a stream's micro-batches, are skipped by their statistics). Nothing when a
    timestamp or value is NULL (`concat_ws` skips NULLs: other texts could then give the
    same key)."""
    if data["timestamp"].null_count or data["value"].null_count:
        return []
    lo, hi = pc.min_max(data["timestamp"]).values()
    return [f"timestamp BETWEEN {sql_str(lo.as_py())} AND {sql_str(hi.as_py())}"]


def land(
    ctx: Context,
    batches: Iterable[Batch],
    *,
    now: dt.datetime | None = None,
    known: dict[str, str] | None = None,
) -> list[Landed]:
    """Land `batches` in order (see the module docstring); one `Landed` per batch.

    `known`: checksum → batch id of what is already landed (default: `ops.manifest`); the
    checksums landed here are added to it.
    """
    t0 = time.perf_counter()
    now = now or ctx.clock()
    known = known_checksums(ctx) if known is None else known
    before = dict(known)
    out: list[Landed] = []
    taken: list[tuple[Batch, Landed]] = []
    seen: set[tuple[str, str]] = set()
    for batch in batches:
        unit = (batch.checksum, batch.spec.qualified)
        if batch.manifest and (batch.checksum in before or unit in seen):
            first = known.get(batch.checksum, batch.id)
            msg = f"already ingested as batch {first} (same SHA-256)"
            out.append(Landed(batch.name, batch.id, batch.fmt, "skipped", message=msg))
            out[-1].checksum = batch.checksum
            continue
        seen.add(unit)
        known.setdefault(batch.checksum, batch.id)
        landed = Landed(batch.name, batch.id, batch.fmt, "ingested", batch.lines)
        landed.dead_letters = batch.dead.num_rows if batch.dead is not None else 0
        landed.checksum = batch.checksum
        out.append(landed)
        taken.append((batch, landed))
    _write(ctx, taken, now)
    seconds = time.perf_counter() - t0
    for o in out:  # one write for all batches: each is charged its share of the time
        o.seconds = seconds / max(len(out), 1)
    return out


def _write(ctx: Context, taken: list[tuple[Batch, Landed]], now: dt.datetime) -> None:
    """Bronze rows (one append per table), dead letters, manifest; fills in the counts."""
    groups: dict[tuple[str, str | None], list[tuple[int, Batch]]] = {}
    for i, (batch, _) in enumerate(taken):
        groups.setdefault((batch.spec.qualified, batch.record_key), []).append((i, batch))
    landed_of: Counter[int] = Counter()
    for (_, key), members in groups.items():
        spec = members[0][1].spec
        data = pa.concat_tables([_with_lineage(b, i, now) for i, b in members])
        landed_of.update(_land_rows(ctx, spec, key, data))
        del data
    dead_parts = []
    manifest: dict[str, dict[str, object]] = {}
    for i, (batch, out) in enumerate(taken):
        out.landed = landed_of.get(i, 0)
        out.duplicates = batch.rows.num_rows - out.landed
        if batch.dead is not None and batch.dead.num_rows:
            dead_parts.append(dead_letter_rows(batch.dead, batch.id, batch.source, now))
        if batch.manifest:
            row = manifest.setdefault(batch.checksum, {
                "checksum": batch.checksum,
                "source_file": batch.source,
                "format": batch.fmt,
                "batch_id": batch.id,
                "ingested_at": now,
            })  # fmt: skip
            row["rows"] = int(row.get("rows", 0)) + out.landed  # type: ignore[call-overload]
    if dead_parts:
        ctx.lake.insert_new(cat.OPS_DEAD_LETTER, pa.concat_tables(dead_parts))
    if manifest:
        ctx.lake.insert_new(cat.OPS_MANIFEST, pa.Table.from_pylist(list(manifest.values())))
