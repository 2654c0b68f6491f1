"""Batch = stream: a generated faulty data set landed with `wattlake ingest` + `wattlake run`
and the same files replayed through the broker into `wattlake stream run` give the same
silver and the same 5-minute aggregates.

What may differ, by design (docs/DATA_DICTIONARY.md, "Batch and stream"):

- lineage: `_record_id` (the raw text of a value differs: the stream stores the number
  as DuckDB writes it), `_batch_id`, `_ingested_at` (a file's arrival vs the event's
  `sim_clock`), `_run_id`, and so `value_raw`;
- file rows that are not valid events (a timestamp or value that does not parse): the batch
  quarantines them (`ts_unparseable`, `value_missing`), the stream dead-letters them;
- timestamp sanity: the batch judges `future_timestamp` against the file's arrival and
  never `backdated` by age; the stream judges ± `live_tolerance_minutes` of the event's
  `sim_clock`. A replay sends each reading when its interval ends, inside the tolerance, so
  this replay has no such reading (late or out-of-order perturbations would be `backdated`
  in the stream only).
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

import services
from stream_support import (
    first_difference,
    generate,
    new_prefix,
    replay,
    rows,
    run_stream,
    stream_settings,
    with_profiles,
)
from wattlake.context import build_context
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.stream import perturb
from wattlake.stream.windows import batch_aggregates

SILVER_COLUMNS = """meter_id, ts, date, interval_minutes, kwh, kw, unit_raw, quality_score,
    quality_grade, quality_tier, flags, is_estimated, provenance, estimation_method, hour,
    day_of_week, is_weekend, is_holiday, season, is_peak"""


def test_batch_and_stream_give_the_same_silver_and_aggregates(
    kafka: services.Service, tmp_path: Path
) -> None:
    data = generate(tmp_path / "data", 6, 3, seed=44)
    files = [data / "users.csv", *sorted(data.glob("meters_*.csv"))]

    batch_home = tmp_path / "batch"
    with build_context(stream_settings(batch_home, kafka.address)) as ctx:
        ingest_files(ctx, files)
        run_pipeline(ctx)

    prefix = new_prefix()
    report = replay(kafka.address, data, prefix, perturb.Perturbations(), tmp_path / "l.csv")
    invalid = [lb for lb in report.plan.labels if lb["perturbation"] == "source_invalid"]
    stream_home = tmp_path / "stream"
    s = stream_settings(stream_home, kafka.address)
    with_profiles(s, data)
    run_stream(s, prefix, max_messages=500)

    silver_sql = f"SELECT {SILVER_COLUMNS} FROM silver.meter_readings ORDER BY meter_id, ts"
    b, st = rows(batch_home, silver_sql), rows(stream_home, silver_sql)
    assert len(b) > 500
    assert st == b, first_difference(st, b)

    q_sql = "SELECT meter_id, ts, rules, kwh FROM silver.quarantine ORDER BY meter_id, ts, rules"
    bq, sq = rows(batch_home, q_sql), rows(stream_home, q_sql)
    # the batch also holds the file rows that are not valid events: the stream dead-lettered
    unparseable = [r for r in bq if any(x in r[2] for x in ("ts_unparseable", "value_missing"))]
    assert len(unparseable) >= len(invalid) > 0
    assert sq == [r for r in bq if r not in unparseable], first_difference(sq, bq)
    (dead,) = rows(stream_home, "SELECT count(*) FROM ops.dead_letter")[0]
    (file_dead,) = rows(batch_home, "SELECT count(*) FROM ops.dead_letter")[0]
    assert dead == file_dead + len(invalid)

    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    lake = Lake(batch_home)
    want = con.to_pyarrow(
        batch_aggregates(
            con.read_delta(str(lake.path(cat.SILVER_READINGS))),
            con.read_delta(str(lake.path(cat.SILVER_QUARANTINE))),
            con.read_delta(str(lake.path(cat.SILVER_USERS))),
        )
    ).to_pylist()
    got = rows(
        stream_home,
        "SELECT household_id, channel, window_start, kwh_sum, kwh_min, kwh_max, readings, meters "
        "FROM stream.aggregates_5min WHERE readings > 0 ORDER BY 1, 2, 3",
    )
    w = sorted(
        (
            r["household_id"],
            r["channel"],
            r["window_start"],
            r["kwh_sum"],
            r["kwh_min"],
            r["kwh_max"],
            r["readings"],
            r["meters"],
        )
        for r in want
    )
    g = [(h, c, ws.replace(tzinfo=None), *rest) for h, c, ws, *rest in got]
    assert len(g) > 500
    assert [x[:3] for x in g] == [x[:3] for x in w]
    for x, y in zip(g, w, strict=True):
        assert x[3:6] == pytest.approx(y[3:6], abs=1e-9) and x[6:] == y[6:], (x, y)
