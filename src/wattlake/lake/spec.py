"""What a lake table is: `TableSpec` (name, Arrow schema, partitioning, clustering, merge keys)
and schema conformance. The tables themselves are declared in `wattlake.lake.catalog`; the
Delta I/O that reads and writes them is `wattlake.lake.delta.Lake`.

Timestamps are stored as UTC (`timestamp[us, tz=UTC]`); energy in kWh per interval, power in kW.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

LINEAGE = [
    ("_batch_id", pa.string()),
    ("_source_file", pa.string()),
    ("_row_number", pa.int64()),
    ("_ingested_at", UTC_TS),
    ("_record_id", pa.string()),
]


@dataclass(frozen=True)
class TableSpec:
    """One lake table: qualified name, Arrow schema, Delta partition columns, write rules."""

    schema: str
    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # A write of a table sorts its rows by these columns (`Lake._source`) and stores them in
    # row groups of `delta.CLUSTERED_ROW_GROUP_ROWS`, so a reader filtering on them skips the
    # other row groups by their min/max statistics (the silver VEE reads bronze meter chunk
    # by meter chunk).
    cluster_by: tuple[str, ...] = ()
    # The identity of a row for `Lake.insert_new` (MERGE: insert when not matched): a row
    # whose key is already stored is not written again. Empty: the table is never merged.
    merge_keys: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [n for n, _ in self.columns]


def table_spec(
    qualified: str,
    cols: Iterable[tuple[str, pa.DataType]],
    *,
    partition_by: tuple[str, ...] = (),
    description: str = "",
    cluster_by: tuple[str, ...] = (),
    merge_keys: tuple[str, ...] = (),
) -> TableSpec:
    """A `TableSpec` from its `schema.name` and columns."""
    schema, name = qualified.split(".")
    return TableSpec(
        schema,
        name,
        tuple(cols),
        partition_by=partition_by,
        description=description,
        cluster_by=cluster_by,
        merge_keys=merge_keys,
    )


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """Select and cast `data` to the table's schema (missing nullable columns become null);
    `data` itself when it already has that schema."""
    if data.schema == spec.arrow_schema:
        return data
    cols = []
    for name, typ in spec.columns:
        if name in data.column_names:
            col = data.column(name)
            if (
                pa.types.is_timestamp(typ)
                and pa.types.is_timestamp(col.type)
                and col.type.tz is None
            ):
                col = col.cast(pa.timestamp("us")).cast(typ)  # naive values are UTC
            cols.append(col.cast(typ))
        else:
            cols.append(pa.nulls(data.num_rows, typ))
    return pa.Table.from_arrays(cols, schema=spec.arrow_schema)


def conformed_stream(source: pa.RecordBatchReader, spec: TableSpec) -> pa.RecordBatchReader:
    """`source`'s batches, each conformed to `spec` as it is read."""
    return pa.RecordBatchReader.from_batches(
        spec.arrow_schema,
        (b for batch in source for b in conform(pa.Table.from_batches([batch]), spec).to_batches()),
    )
