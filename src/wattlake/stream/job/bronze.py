"""A micro-batch as landing `Batch`es: bronze rows with lineage, and dead letters.

- Readings: one `Batch` per partition, `source` = `kafka://<topic>/<partition>`,
  `_row_number` = the message offset, `_ingested_at` = the event's `sim_clock` (the arrival
  time the live VEE judges against), `_format` = `kafka`, batch id
  `k<partition>-<first offset>-<last offset>` (sortable by offset within a partition, so
  "first to arrive" among equal arrival times follows the partition's order), and
  `_record_id` = SHA-256 of `landing.READING_KEY` (an exact re-send is a duplicate).
- Dead letters: one `Batch` per partition without rows, batch id
  `kafka:<topic>:<partition>` and line = offset, so reading a message again merges into its
  existing `ops.dead_letter` row.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from wattlake.context import Context
from wattlake.lake import catalog as cat
from wattlake.landing import READING_KEY, Batch, record_ids
from wattlake.transforms.vee.validation import LIVE_FORMATS

STREAM_FORMAT = LIVE_FORMATS[0]


def batch_id_of(partition: int, first: int, last: int) -> str:
    """The bronze batch id of a partition's offsets `first..last`."""
    return f"k{partition:03d}-{first:012d}-{last:012d}"


def dead_batch_id(topic: str, partition: int) -> str:
    """The batch id of a partition's dead letters (module doc)."""
    return f"kafka:{topic}:{partition}"


def partitions(messages: pa.Table) -> dict[int, tuple[int, int, int]]:
    """Partition → (first offset, last offset, messages) of a micro-batch."""
    g = messages.group_by("partition").aggregate(
        [("offset", "min"), ("offset", "max"), ("offset", "count")]
    )
    return {
        r["partition"]: (r["offset_min"], r["offset_max"], r["offset_count"]) for r in g.to_pylist()
    }


def bronze_rows(
    ctx: Context,
    readings: pa.Table,
    topic: str,
    parts: dict[int, tuple[int, int, int]],
    now: dt.datetime,
) -> pa.Table:
    """Bronze rows (lineage and `_record_id`) of decoded readings (`decode.READINGS_SCHEMA`)."""
    n = readings.num_rows
    names = {p: batch_id_of(p, first, last) for p, (first, last, _) in parts.items()}
    ids = [names[p] for p in readings["partition"].to_pylist()]
    rows = pa.table(
        {
            "meter_id": readings["meter_id"],
            "timestamp": readings["timestamp"],
            "value": readings["value"],
            "unit": readings["unit"],
            "_format": pa.repeat(pa.scalar(STREAM_FORMAT), n),
            "_batch_id": pa.array(ids, pa.string()),
            "_source_file": pc.binary_join_element_wise(
                f"kafka://{topic}/", pc.cast(readings["partition"], pa.string()), ""
            ),
            "_row_number": readings["offset"],
            "_ingested_at": readings["sim_clock"],
            "ingest_date": pa.repeat(pa.scalar(now.date().isoformat()), n),
        }
    )
    return rows.append_column("_record_id", record_ids(ctx, rows, READING_KEY))


def landing_batches(
    rows: pa.Table, invalid: pa.Table, topic: str, parts: dict[int, tuple[int, int, int]]
) -> list[Batch]:
    """The landing batches of a micro-batch (module doc)."""
    batches = []
    for p, (first, last, _) in sorted(parts.items()):
        bid = batch_id_of(p, first, last)
        source = f"kafka://{topic}/{p}"
        checksum = hashlib.sha256(f"{topic}|{p}|{first}-{last}".encode()).hexdigest()
        mine = rows.filter(pc.equal(rows["_batch_id"], bid))
        if mine.num_rows:
            batches.append(
                Batch(
                    cat.BRONZE_READINGS,
                    mine,
                    source,
                    STREAM_FORMAT,
                    checksum,
                    mine.num_rows,
                    READING_KEY,
                    batch_id=bid,
                    manifest=False,
                )
            )
        dead = invalid.filter(pc.equal(invalid["partition"], p))
        if dead.num_rows:
            text = [
                "" if v is None else v.decode("utf-8", "replace") for v in dead["value"].to_pylist()
            ]
            letters = pa.table(
                {
                    "line_number": dead["offset"],
                    "raw_text": pa.array(text, pa.string()),
                    "reason": dead["reason"],
                }
            )
            batches.append(
                Batch(
                    cat.BRONZE_READINGS,
                    rows.schema.empty_table(),
                    source,
                    STREAM_FORMAT,
                    checksum,
                    dead.num_rows,
                    READING_KEY,
                    dead=letters,
                    batch_id=dead_batch_id(topic, p),
                    manifest=False,
                )
            )
    return batches


__all__ = [
    "STREAM_FORMAT",
    "batch_id_of",
    "bronze_rows",
    "dead_batch_id",
    "landing_batches",
    "partitions",
]
