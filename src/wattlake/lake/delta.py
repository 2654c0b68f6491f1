"""Delta I/O of the lake through delta-rs: creating tables, control data and Arrow writes.

Every table lives at `<lake>/<schema>/<name>` (its `TableSpec` in `wattlake.lake.catalog`),
where the lake is `<home>/lake` or the `lake` setting: a directory or `s3://bucket/prefix`
(`storage.LakeLocation`). Writes are delta-rs commits: append, replace-where (delete +
insert in one commit) and MERGE on the spec's `merge_keys` (insert when not matched).
Pipeline steps write their results through the engine's lake I/O (`wattlake.tables`);
this class serves it on DuckDB, and serves small control data on every engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake import Field as DeltaField
from deltalake.exceptions import TableNotFoundError

from wattlake.duck import duckdb_connect
from wattlake.lake.spec import TableSpec, conform, conformed_stream
from wattlake.lake.storage import LakeLocation, parse_lake_uri

# Row-group size of clustered tables (rows); DuckDB scans a row group per thread task.
CLUSTERED_ROW_GROUP_ROWS = 100_000
# DuckDB's working memory for sorting a clustered table's rows before a write (spills beyond).
CLUSTER_SORT_MEMORY = "1GB"


def writer_properties(spec: TableSpec) -> WriterProperties | None:
    """Parquet writer settings for `spec`; None: delta-rs' defaults (snappy), which an empty
    `WriterProperties()` is not (it writes uncompressed), hence None and not that. The
    deltalake stubs do not declare None, which delta-rs accepts (its default)."""
    if not spec.cluster_by:
        return None
    return WriterProperties(max_row_group_size=CLUSTERED_ROW_GROUP_ROWS)


class Lake:
    """Delta tables of one lake: create, read, append, replace and merge.

    `home` is the local home directory (logs, spill files, the DuckDB warehouse);
    `location` the lake's base (default `<home>/lake`)."""

    def __init__(self, home: Path, location: LakeLocation | None = None) -> None:
        self.home = Path(home)
        self.location = location or parse_lake_uri(self.home / "lake")
        self.storage_options = self.location.delta_rs_storage_options()

    @property
    def is_local(self) -> bool:
        return self.location.scheme == "file"

    @property
    def spill_dir(self) -> Path:
        """Where DuckDB spills beyond its memory limit: `<home>/tmp/duckdb`."""
        return self.home / "tmp" / "duckdb"

    def uri(self, spec: TableSpec) -> str:
        """The table's URI for delta-rs and DuckDB (an absolute path or `s3://…`)."""
        return self.location.table_uri(spec.schema, spec.name)

    def spark_uri(self, spec: TableSpec) -> str:
        """The table's URI for Spark (`file:/…` or `s3a://…`)."""
        return self.location.spark_uri(spec.schema, spec.name)

    def path(self, spec: TableSpec) -> Path | str:
        """The table's directory (a `Path`) in a local lake; its URI (`s3://…`) otherwise.
        Prefer `uri`; this form is kept for callers that glob a local table's files."""
        return Path(self.uri(spec)) if self.is_local else self.uri(spec)

    def exists(self, spec: TableSpec) -> bool:
        if self.is_local:
            return (Path(self.uri(spec)) / "_delta_log").is_dir()
        return DeltaTable.is_deltatable(self.uri(spec), storage_options=self.storage_options)

    def _open(self, spec: TableSpec) -> DeltaTable:
        return DeltaTable(self.uri(spec), storage_options=self.storage_options)

    def ensure(self, spec: TableSpec) -> DeltaTable:
        """Create the table empty if it does not exist yet; add the columns a newer
        version of `spec` has and the stored table lacks (NULL in existing rows)."""
        if not self.exists(spec):
            if self.is_local:
                Path(self.uri(spec)).mkdir(parents=True, exist_ok=True)
            write_deltalake(
                self.uri(spec),
                spec.arrow_schema.empty_table(),
                partition_by=list(spec.partition_by) or None,
                mode="ignore",
                storage_options=self.storage_options,
            )
        dt = self._open(spec)
        have = {f.name for f in dt.schema().fields}
        missing = [f for f in spec.arrow_schema if f.name not in have]
        if missing:
            dt.alter.add_columns([DeltaField.from_arrow(f.with_nullable(True)) for f in missing])
            dt = self._open(spec)
        return dt

    def table(self, spec: TableSpec) -> DeltaTable | None:
        try:
            return self._open(spec)
        except TableNotFoundError:
            return None

    def read(self, spec: TableSpec, columns: list[str] | None = None) -> pa.Table:
        """The whole current version as Arrow (small ops tables only)."""
        dt = self.table(spec)
        if dt is None:
            return (
                spec.arrow_schema.empty_table()
                if columns is None
                else conform(spec.arrow_schema.empty_table(), spec).select(columns)
            )
        return dt.to_pyarrow_table(columns=columns)

    def append(self, spec: TableSpec, data: pa.Table | pa.RecordBatchReader) -> None:
        """Add `data`'s rows (a table, or a stream written as it comes); no commit when there
        are none."""
        self.ensure(spec)
        if isinstance(data, pa.RecordBatchReader):
            data = _non_empty(data)
            if data is None:
                return
        elif data.num_rows == 0:
            return
        with self._source(data, spec) as source:
            write_deltalake(  # type: ignore[call-overload]  # None: see writer_properties
                self.uri(spec),
                source,
                mode="append",
                storage_options=self.storage_options,
                partition_by=list(spec.partition_by) or None,
                writer_properties=writer_properties(spec),
            )

    def replace_where(
        self, spec: TableSpec, data: pa.Table | pa.RecordBatchReader, predicate: str | None
    ) -> None:
        """Atomically delete the rows matching `predicate` and write `data` (one commit).

        With `predicate=None` the whole table is overwritten. Every row of `data` must
        satisfy the predicate. A `RecordBatchReader` is streamed (conformed batch by batch),
        so the rows never need to fit in memory at once.
        """
        self.ensure(spec)
        with self._source(data, spec) as source:
            write_deltalake(  # type: ignore[call-overload]  # None: see writer_properties
                self.uri(spec),
                source,
                mode="overwrite",
                storage_options=self.storage_options,
                predicate=predicate,
                partition_by=list(spec.partition_by) or None,
                writer_properties=writer_properties(spec),
            )

    @contextmanager
    def _source(
        self, data: pa.Table | pa.RecordBatchReader, spec: TableSpec
    ) -> Iterator[pa.Table | pa.RecordBatchReader]:
        """`data` to write to `spec`, conformed; a table of a clustered spec sorted by its
        `cluster_by` columns (stable), streamed in row-group-sized batches.

        DuckDB sorts: within `CLUSTER_SORT_MEMORY`, spilling to `<home>/tmp/duckdb`, where
        an Arrow `take` of millions of wide rows in sorted order costs a cache miss per
        value (40 s for the 10 M readings of one ingest) and a second copy of the rows.
        A `RecordBatchReader` is written as it comes (conformed batch by batch)."""
        if isinstance(data, pa.RecordBatchReader):
            yield conformed_stream(data, spec)
            return
        data = conform(data, spec)
        if not spec.cluster_by or data.num_rows < 2:
            yield data
            return
        rows = data.append_column("_wl_ord", pa.array(np.arange(data.num_rows, dtype=np.int64)))
        order = ", ".join([*(f'"{c}"' for c in spec.cluster_by), "_wl_ord"])
        with duckdb_connect(
            memory_limit=CLUSTER_SORT_MEMORY, temp_directory=self.spill_dir, extensions=()
        ) as con:
            con.register("wl_rows", rows)
            sorted_rows = con.execute(
                f"SELECT * EXCLUDE (_wl_ord) FROM wl_rows ORDER BY {order}"
            ).to_arrow_reader(CLUSTERED_ROW_GROUP_ROWS)
            yield conformed_stream(sorted_rows, spec)

    def delete(self, spec: TableSpec, predicate: str) -> None:
        """Delete the rows matching `predicate` (SQL); nothing when the table does not exist."""
        dt = self.table(spec)
        if dt is not None:
            dt.delete(predicate)

    def insert_new(self, spec: TableSpec, data: pa.Table) -> int:
        """MERGE on the spec's `merge_keys`: insert the rows whose key is not stored yet;
        returns the rows inserted."""
        if not spec.merge_keys:
            raise ValueError(f"{spec.qualified} declares no merge keys")
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return 0
        with self._source(data, spec) as source:
            metrics = _merge(dt, source, spec).when_not_matched_insert_all().execute()
        return int(metrics.get("num_target_rows_inserted", 0))

    def upsert(
        self,
        spec: TableSpec,
        data: pa.Table,
        update: list[str],
        *,
        when: str | None = None,
        scope: str | None = None,
    ) -> None:
        """MERGE on the spec's `merge_keys`: matched rows get the `update` columns of `data`
        (only where the SQL condition `when` holds, `t.`/`s.` aliases), unmatched rows of
        `data` are inserted. `scope`: an extra condition on the target (`t.`) that limits
        the rows MERGE reads, e.g. the partitions `data` touches. One commit."""
        if not spec.merge_keys:
            raise ValueError(f"{spec.qualified} declares no merge keys")
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return
        with self._source(data, spec) as source:
            (
                _merge(dt, source, spec, scope)
                .when_matched_update({c: f"s.{c}" for c in update}, predicate=when)
                .when_not_matched_insert_all()
                .execute()
            )

    def last_modified(self, spec: TableSpec) -> int | None:
        """Milliseconds since the epoch of the table's last commit."""
        dt = self.table(spec)
        if dt is None:
            return None
        hist = dt.history(1)
        return int(hist[0]["timestamp"]) if hist else None

    def size_bytes(self, spec: TableSpec) -> int:
        """Bytes on disk of a local table (every file); of the current data files on S3."""
        if self.is_local:
            p = Path(self.uri(spec))
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0
        dt = self.table(spec)
        if dt is None:
            return 0
        sizes = pa.table(dt.get_add_actions(flatten=True)).column("size_bytes")
        return int(sum(v or 0 for v in sizes.to_pylist()))


def _merge(dt: DeltaTable, source: Any, spec: TableSpec, scope: str | None = None) -> Any:
    """A MERGE builder of `source` (alias `s`) into `dt` (alias `t`) on the spec's merge
    keys; `scope`, a condition on `t`, limits the target rows it reads."""
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.merge_keys)
    return dt.merge(
        source,
        predicate=f"({scope}) AND {on}" if scope else on,
        source_alias="s",
        target_alias="t",
        writer_properties=writer_properties(spec),
    )


def _non_empty(reader: pa.RecordBatchReader) -> pa.RecordBatchReader | None:
    """`reader` unchanged in content, or None when it yields no rows (read up to the first
    batch with rows)."""
    first = None
    for batch in reader:
        if batch.num_rows:
            first = batch
            break
    if first is None:
        return None

    def rest() -> Iterator[pa.RecordBatch]:
        yield first
        yield from reader

    return pa.RecordBatchReader.from_batches(reader.schema, rest())
