"""Cheaper forms of VEE expressions give exactly what the plain forms give (DuckDB)."""

from __future__ import annotations

import random

import ibis
import pyarrow as pa
import pytest

from wattlake.engine import Engine
from wattlake.transforms.silver import meter_chunks
from wattlake.transforms.vee import faults as f
from wattlake.transforms.vee.cadence import is_cadence_step
from wattlake.transforms.vee.profile import get_profile

IDS = ["b", " a", " b", "a", "a ", "ab", None, "c", "d", "\tc", "aa", " ab "]


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 100])
def test_meter_chunks_select_exactly_their_meters(duck: Engine, limit: int) -> None:
    """Each chunk's rows are the rows of its meters (stripped ids; NULL ids together), and
    the chunks together are every row once, whatever ids sort between a chunk's stored
    ids (" b" sorts before "a", yet belongs to meter "b")."""
    t = ibis.memtable(pa.table({"meter_id": pa.array(IDS, pa.string()), "i": range(len(IDS))}))
    sizes = duck.to_arrow(t.group_by("meter_id").aggregate(n=t.count()))
    seen: list[int] = []
    for chunk in meter_chunks(sizes, limit):
        got = sorted(duck.to_arrow(chunk.rows(t))["i"].to_pylist())
        keys = [None if m is None else m.strip() for m in IDS]
        mine = [
            i
            for i, k in enumerate(keys)
            if (k is None and chunk.nulls)
            or (k is not None and chunk.first is not None and chunk.first <= k <= chunk.last)
        ]
        assert got == mine
        assert chunk.readings == len(mine)
        seen += got
    assert sorted(seen) == list(range(len(IDS)))


def test_is_cadence_step_is_whole_minutes_in_the_profile(duck: Engine) -> None:
    profile = get_profile("greenstream")
    secs = [None, 0, 59, 60, 299, 300, 301, 600, 900, 1800, 1830, 3600, 7200, -300]
    t = ibis.memtable(pa.table({"s": pa.array(secs, pa.int64())}))
    plain = (t.s % 60 == 0) & (t.s // 60).isin(list(profile.cadences_minutes))
    out = duck.to_arrow(t.select(fast=is_cadence_step(t.s, profile), plain=plain))
    assert out["fast"].to_pylist() == out["plain"].to_pylist()


def _readings(seed: int, n: int = 400) -> pa.Table:
    """Two meters of readings drawn to make runs of every kind, gaps and repeats."""
    rnd = random.Random(seed)
    rows: dict[str, list] = {"meter_id": [], "kw": [], "_ok": [], "_sec": [], "_step": []}
    for meter in ("m1", "m2"):
        sec = 0
        for _ in range(n):
            sec += rnd.choice([0, 1800, 1800, 1800, 1800, 3600])
            rows["meter_id"].append(meter)
            rows["kw"].append(rnd.choice([0.0, 0.0, 1.5, 1.5, 25.0, 25.0, 0.3, 3.0]))
            rows["_ok"].append(rnd.random() > 0.1)
            rows["_sec"].append(sec)
            rows["_step"].append(1800)
    return pa.table(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_at_run_end_marks_the_rows_of_the_run_end_flags(duck: Engine, seed: int) -> None:
    profile = get_profile("greenstream").model_copy(update={"max_kw": 20.0})
    nb = f.neighbours(ibis.memtable(_readings(seed)))
    flags = f.run_end_flags(nb, profile)
    any_flag = ibis.literal(False)
    for flag in flags.values():
        any_flag = any_flag | flag
    out = duck.to_arrow(nb.select(fast=f.at_run_end(nb, profile), plain=any_flag))
    fast = [bool(x) for x in out["fast"].to_pylist()]  # a filter keeps TRUE rows only
    plain = [bool(x) for x in out["plain"].to_pylist()]
    assert fast == plain
    assert sum(plain) > 20  # the data has runs
