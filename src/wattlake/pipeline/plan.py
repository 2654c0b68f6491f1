"""The incremental silver window: which meters a run rewrites, and from when. Pure.

Given the meters of the pending bronze batches with their earliest new interval, the run
rewrites those meters from `write_from = earliest − lookback` and classifies bronze from
`context_from = write_from − lookback`, so every rewritten row sees a full lookback of its
meter's history (no rule looks back further).

The neighbourhood correlation judges whole UTC weeks and compares meters: when meters have
neighbours, `write_from` moves back to the Monday that starts its week, and the meters that
have a new meter among their neighbours are re-judged (rewritten) too, although their own
readings did not change.

A rebuild (or nothing new) has no window: everything pending is classified whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from wattlake.transforms.vee import neighbours as nb


@dataclass(frozen=True)
class SilverWindow:
    """What one silver step rewrites."""

    new_meters: list[str]  # meters with readings in the pending batches
    rejudged: list[str]  # their neighbours, re-judged for the neighbourhood rule
    since: dt.datetime | None  # earliest new interval (UTC), None when none parsed
    write_from: dt.datetime | None  # rewrite from here (UTC); None: no window (whole)
    context_from: dt.datetime | None  # classify from here (UTC)

    @property
    def meters(self) -> list[str]:
        """The meters whose silver rows are rewritten."""
        return [*self.new_meters, *self.rejudged]


def plan_silver_window(
    firsts: dict[str, dt.datetime],
    lookback: dt.timedelta,
    pairs: pa.Table,
    rebuild: bool = False,
) -> SilverWindow:
    """The window of a run (module doc).

    `firsts`: meter id → its earliest parsed interval in the pending batches (UTC);
    `pairs`: the neighbour pairs (`neighbours.neighbour_pairs`; empty without locations)."""
    new_meters = list(firsts)
    since = min(firsts.values(), default=None)
    if rebuild or since is None:
        return SilverWindow(new_meters, [], since, None, None)
    write_from = since - lookback
    rejudged: list[str] = []
    if pairs.num_rows:
        write_from = nb.week_start(write_from)
        rejudged = nb.judged_with(pairs, new_meters)
    return SilverWindow(new_meters, rejudged, since, write_from, write_from - lookback)
