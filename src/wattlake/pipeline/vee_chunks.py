"""The silver VEE on an engine, meter chunk by meter chunk.

Every VEE rule looks at one meter's readings only, so bronze can be classified in chunks of
whole meters (`transforms.silver.meter_chunks`): an embedded engine's working memory is then
bounded by the chunk size (`Engine.chunk_readings`), and the plan is compiled once
(`Engine.prepare`) and run per chunk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import ibis.expr.types as ir

from wattlake.engine import Engine
from wattlake.transforms.silver import classify, meter_chunks
from wattlake.transforms.vee.profile import VeeProfile


def _count(engine: Engine, t: ir.Table) -> int:
    """Number of rows of `t`, computed on `engine`."""
    return int(engine.to_arrow(t.count().name("n").as_table())["n"][0].as_py())


def classify_chunks(
    engine: Engine,
    bronze: ir.Table,
    profile: VeeProfile,
    holidays: list[dt.date],
    *,
    max_readings: int | None = None,
    **rules: Any,
) -> Iterator[ir.Table]:
    """`classify` on `engine`, meter by meter in chunks of at most `max_readings` readings
    (default: the engine's `chunk_readings`; None: one chunk). Every rule looks at one
    meter's readings only, so the chunks together are exactly `classify(bronze)`.

    Yields each chunk's classified table; its intermediate tables are released when the
    next chunk is asked for, so use (or copy) a chunk before moving on. `rules`: the
    keyword arguments of `classify` other than `checkpoint`.
    """
    limit = max_readings if max_readings is not None else engine.chunk_readings
    parts = [bronze]
    # Counting is cheap (file metadata for a plain scan); readings per meter only when
    # the input needs cutting.
    if limit is not None and _count(engine, bronze) > limit:
        sizes = engine.to_arrow(bronze.group_by("meter_id").aggregate(n=bronze.count()))
        parts = [chunk.rows(bronze) for chunk in meter_chunks(sizes, limit)]
    plan = engine.prepare(
        lambda src, checkpoint: classify(src, profile, holidays, checkpoint=checkpoint, **rules),
        bronze,
    )
    try:
        for part in parts:
            yield plan.run(part)
    finally:
        plan.close()


def classify_all(
    engine: Engine,
    bronze: ir.Table,
    profile: VeeProfile,
    holidays: list[dt.date],
    **kwargs: Any,
) -> ir.Table:
    """`classify_chunks` collected into one engine table (what the pipeline uses)."""
    out: ir.Table | None = None
    for part in classify_chunks(engine, bronze, profile, holidays, **kwargs):
        out = engine.append(out, part)
    assert out is not None  # there is always at least one chunk
    return out
