"""The lake I/O of pipeline steps, in engine tables: `ctx.tables`.

Steps read lake tables as engine tables (`read`) and write engine tables back
(`replace_where`), never Arrow, so each engine writes where it computes:

- DuckDB (`delta_rs.DeltaRsTables`): the result streams as record batches from DuckDB into
  one delta-rs commit, conformed batch by batch (bounded memory);
- Spark (`delta_spark.DeltaSparkTables`): the executors write the result with delta-spark
  (`replaceWhere` / append / overwrite); the driver receives only the counts.

A write returns `Written`: the rows written and `tally` counts (rows where a condition
holds), computed while the rows are written rather than by reading them back.

Small control data (checkpoints, run records, alerts, the manifest) stays on `ctx.lake`
(delta-rs and Arrow on the driver) for every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from wattlake.engine import Engine
from wattlake.lake.delta import Lake
from wattlake.lake.spec import TableSpec

# name → condition on the written rows (a conformed table): counted where true.
Tally = Mapping[str, Callable[[ir.Table], ir.BooleanValue]]


@dataclass(frozen=True)
class Written:
    """What a write committed: `rows`, and the count of each `tally` condition."""

    rows: int
    tallies: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> int:
        return self.tallies[name]


def parts_of(exprs: ir.Table | Sequence[ir.Table]) -> list[ir.Table]:
    return [exprs] if isinstance(exprs, ir.Table) else list(exprs)


def conform_expr(expr: ir.Table, spec: TableSpec) -> ir.Table:
    """`expr` with exactly the columns of `spec`, in its order and types (a missing column
    is NULL): the engine-side twin of `lake.spec.conform`."""
    cols = {}
    for name, typ in spec.columns:
        want = ibis.dtype(typ)
        cols[name] = expr[name].cast(want) if name in expr.columns else ibis.null(want)
    return expr.select(**cols)


class Tables:
    """Lake tables as engine tables: read, and replace where a predicate holds.

    `predicate` of a write is SQL over the table's columns that delta-rs and Spark both
    accept (`lake.predicates` builds it): the rows matching it are replaced by the written
    ones in one commit, and every written row must match it. None replaces the whole
    table; `"false"` replaces nothing (the rows are added)."""

    def __init__(self, engine: Engine, lake: Lake) -> None:
        self.engine, self.lake = engine, lake

    def read(self, spec: TableSpec) -> ir.Table:
        """The table's current version as an engine table (created empty if missing)."""
        return self.engine.read(self.lake, spec)

    def replace_where(
        self,
        spec: TableSpec,
        exprs: ir.Table | Sequence[ir.Table],
        predicate: str | None,
        *,
        tally: Tally | None = None,
    ) -> Written:
        """Write the rows of `exprs` (one table, or parts written together) in place of
        the rows matching `predicate` (class doc), in one commit."""
        raise NotImplementedError


def tables_for(engine: Engine, lake: Lake) -> Tables:
    """The lake I/O of `engine` over `lake`."""
    if engine.name == "spark":
        from wattlake.tables.delta_spark import DeltaSparkTables

        return DeltaSparkTables(engine, lake)
    from wattlake.tables.delta_rs import DeltaRsTables

    return DeltaRsTables(engine, lake)
