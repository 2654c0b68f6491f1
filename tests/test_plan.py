"""The incremental silver window (`pipeline.plan.plan_silver_window`), a pure function."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from wattlake.pipeline.plan import plan_silver_window

UTC = dt.UTC
LOOKBACK = dt.timedelta(hours=192)
NO_PAIRS = pa.table(
    {"meter_id": pa.array([], pa.string()), "neighbour_id": pa.array([], pa.string())}
)
PAIRS = pa.table({"meter_id": ["A", "B", "C"], "neighbour_id": ["B", "A", "A"]})


def t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("firsts", "pairs", "rebuild", "write_from", "rejudged"),
    [
        pytest.param({}, NO_PAIRS, False, None, [], id="nothing_new"),
        pytest.param({"A": t(20)}, NO_PAIRS, True, None, [], id="rebuild_has_no_window"),
        pytest.param({"A": t(20, 5)}, NO_PAIRS, False, t(12, 5), [], id="lookback_before_first"),
        pytest.param(
            {"A": t(20), "B": t(15)}, NO_PAIRS, False, t(7), [], id="earliest_meter_decides"
        ),
        # 2024-03-12 05:00 is a Tuesday: the neighbourhood rule judges weeks from Monday.
        pytest.param({"A": t(20, 5)}, PAIRS, False, t(11), ["B", "C"], id="week_start_neighbours"),
        pytest.param({"B": t(20, 5)}, PAIRS, False, t(11), ["A"], id="neighbour_of_b_only_a"),
        pytest.param(
            {"A": t(20), "B": t(20)}, PAIRS, False, t(11), ["C"], id="new_meters_not_rejudged"
        ),
    ],
)
def test_silver_window(
    firsts: dict[str, dt.datetime],
    pairs: pa.Table,
    rebuild: bool,
    write_from: dt.datetime | None,
    rejudged: list[str],
) -> None:
    w = plan_silver_window(firsts, LOOKBACK, pairs, rebuild)
    assert w.write_from == write_from
    assert sorted(w.rejudged) == rejudged
    assert w.meters == [*firsts, *w.rejudged]
    if write_from is None:
        assert w.context_from is None
    else:
        assert w.context_from == write_from - LOOKBACK
