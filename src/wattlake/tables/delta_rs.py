"""Lake I/O on an embedded engine (DuckDB): record batches streamed into delta-rs commits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake.spec import TableSpec, conform
from wattlake.tables import Tables, Tally, Written, parts_of

TALLY_PREFIX = "_wl_tally_"


class DeltaRsTables(Tables):
    """`Tables` whose writes stream the engine's result batches into one delta-rs commit
    (`Lake.replace_where` with a `RecordBatchReader`), counting on the way."""

    # Rows per record batch pulled from the engine.
    BATCH_ROWS = 500_000

    def replace_where(
        self,
        spec: TableSpec,
        exprs: ir.Table | Sequence[ir.Table],
        predicate: str | None,
        *,
        tally: Tally | None = None,
    ) -> Written:
        names = {k: TALLY_PREFIX + k for k in tally or {}}
        counts = dict.fromkeys(names, 0)
        rows = 0

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for expr in parts_of(exprs):
                if tally:
                    expr = expr.mutate(**{names[k]: fn(expr) for k, fn in tally.items()})
                for raw in expr.to_pyarrow_batches(chunk_size=self.BATCH_ROWS):
                    t = pa.Table.from_batches([raw])
                    for k, col in names.items():
                        counts[k] += int(pc.sum(t[col]).as_py() or 0)
                    batch = conform(t.drop_columns(list(names.values())), spec)
                    rows += batch.num_rows
                    yield from batch.to_batches()

        data: pa.Table | pa.RecordBatchReader
        if spec.cluster_by:  # written sorted by `Lake`, which needs the whole table
            data = pa.Table.from_batches(list(batches()), spec.arrow_schema)
        else:
            data = pa.RecordBatchReader.from_batches(spec.arrow_schema, batches())
        self.lake.replace_where(spec, data, predicate)
        return Written(rows, counts)
