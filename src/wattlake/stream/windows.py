"""5-minute aggregates per household: windows, lateness, finality (pure Ibis and arithmetic).

Definitions (the stream runner and the batch equivalent share them):

- A reading belongs to the 5-minute tumbling window `[window_start, window_start + 5 min)`
  that contains its `ts` (UTC start of its interval), of its household (the user whose
  `meter_id` or `pv_meter_id` it is in the latest profile version; a meter without a profile
  is its own household) and channel (`consumption` | `production`).
- Only **valid** readings count: those no rejecting VEE rule (`rules.REJECT_RULES`) held back.
  A low quality score does not remove energy from the total (the grade is a matter of
  silver); estimated rows (gap interpolation) never count.
- **Stream clock**: the producer's clock (`sim_clock` of the events). The **watermark** is
  the stream clock − `watermark_delay` (a reading only exists once its interval is over:
  up to 60 minutes for hourly meters). Across partitions the watermark is the smallest of
  the partitions' (each partition's latest `sim_clock`), so a slow partition holds it back.
- A window is **final** once the watermark passes `window_end + allowed_lateness`; final
  windows are published once to `dashboard-updates`.
- A reading is **late** when its own `sim_clock` − `watermark_delay` is already at or past
  its window's `window_end + allowed_lateness`: it is left out of the sums and counted in
  `late_readings` (it still lands in bronze and is judged by the VEE). This depends only on
  the event, never on how messages were grouped into micro-batches, so a replay after a crash
  decides exactly as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from wattlake.transforms.users import CHANNEL_CONSUMPTION, CHANNEL_PRODUCTION
from wattlake.transforms.vee.rules import REJECT_RULES

WINDOW = dt.timedelta(minutes=5)
WINDOW_SECONDS = int(WINDOW.total_seconds())


@dataclass(frozen=True)
class Timing:
    """Watermark delay and allowed lateness (minutes)."""

    watermark_delay_minutes: float = 60.0
    allowed_lateness_minutes: float = 5.0

    def __post_init__(self) -> None:
        if self.watermark_delay_minutes < 0 or self.allowed_lateness_minutes < 0:
            raise ValueError("watermark delay and allowed lateness must be >= 0 minutes")

    @property
    def delay(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.watermark_delay_minutes)

    @property
    def lateness(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.allowed_lateness_minutes)

    @property
    def close_after(self) -> dt.timedelta:
        """Stream-clock time after a window's end at which it is final."""
        return self.delay + self.lateness


def window_of(ts: dt.datetime) -> dt.datetime:
    """Start of the 5-minute window containing `ts` (UTC)."""
    epoch = int(ts.timestamp())
    return dt.datetime.fromtimestamp(epoch - epoch % WINDOW_SECONDS, dt.UTC)


def watermark(clocks: dict[int, dt.datetime], timing: Timing) -> dt.datetime | None:
    """The watermark of partitions' latest stream clocks (None: no partition has data)."""
    if not clocks:
        return None
    return min(clocks.values()) - timing.delay


def is_final(window_start: dt.datetime, mark: dt.datetime | None, timing: Timing) -> bool:
    """Whether the window starting at `window_start` is final at watermark `mark`."""
    return mark is not None and mark >= window_start + WINDOW + timing.lateness


def window_start_expr(ts: ir.TimestampValue) -> ir.TimestampValue:
    """Ibis: the start of the 5-minute window of `ts` (naive UTC; epoch arithmetic, the
    same on DuckDB and Spark)."""
    secs = ts.epoch_seconds()
    return (secs - secs % WINDOW_SECONDS).as_timestamp("s").cast("timestamp")


def late_expr(
    ts: ir.TimestampValue, sim_clock: ir.TimestampValue, timing: Timing
) -> ir.BooleanValue:
    """Ibis: whether a reading at `ts` sent at `sim_clock` (both naive UTC) is late."""
    close = ibis.interval(seconds=int((WINDOW + timing.close_after).total_seconds()))
    return sim_clock >= window_start_expr(ts) + close


def households(users: ir.Table) -> ir.Table:
    """`meter_id → household_id, channel` from the profile history: the user and channel
    of the meter in the latest version that names it (`silver.user_profiles`)."""
    cons = users.filter(users.meter_id.notnull()).select(
        meter_id=users.meter_id,
        household_id=users.user_id,
        channel=ibis.literal(CHANNEL_CONSUMPTION),
        effective_date=users.effective_date,
    )
    pv = users.filter(users.pv_meter_id.notnull() & (users.pv_meter_id != "")).select(
        meter_id=users.pv_meter_id,
        household_id=users.user_id,
        channel=ibis.literal(CHANNEL_PRODUCTION),
        effective_date=users.effective_date,
    )
    both = cons.union(pv)
    w = ibis.window(
        group_by=both.meter_id,
        order_by=[ibis.desc(both.effective_date), both.household_id, both.channel],
    )
    ranked = both.mutate(_rank=ibis.row_number().over(w))
    return ranked.filter(ranked._rank == 0).select("meter_id", "household_id", "channel")


def with_household(readings: ir.Table, mapping: ir.Table) -> ir.Table:
    """`readings` (with `meter_id`) + `household_id` and `channel` (`households`); a meter
    without a profile is its own consumption household."""
    m = mapping.rename(_h_meter="meter_id", _h_household="household_id", _h_channel="channel")
    j = readings.left_join(m, readings.meter_id == m._h_meter)
    return j.mutate(
        household_id=j._h_household.fill_null(j.meter_id),
        channel=j._h_channel.fill_null(CHANNEL_CONSUMPTION),
    ).drop("_h_meter", "_h_household", "_h_channel")


def aggregate(valid: ir.Table) -> ir.Table:
    """Window aggregates of valid, on-time readings (`household_id`, `channel`, `meter_id`,
    `ts` naive UTC, `kwh`): kWh sum/avg/min/max, readings and distinct meters per
    (household, channel, window)."""
    t = valid.filter(valid.kwh.notnull()).mutate(window_start=window_start_expr(valid.ts))
    return t.group_by(["household_id", "channel", "window_start"]).aggregate(
        kwh_sum=t.kwh.sum(),
        kwh_avg=t.kwh.mean(),
        kwh_min=t.kwh.min(),
        kwh_max=t.kwh.max(),
        readings=t.count(),
        meters=t.meter_id.nunique(),
    )


def _households_expr(t: ir.Table, mapping: ir.Table, timing: Timing) -> ir.Table:
    v = with_household(t, mapping)
    return v.mutate(
        window_start=window_start_expr(v.ts),
        late=late_expr(v.ts, v._ingested_at.cast("timestamp"), timing),
    )


def targets_expr(judged: ir.Table, mapping: ir.Table, timing: Timing) -> ir.Table:
    """The batch's own readings (`_target`) with household, channel, window and `late`."""
    v = _households_expr(judged.filter(judged._target), mapping, timing)
    return v.select(
        "meter_id",
        "household_id",
        "channel",
        "ts",
        "kwh",
        "rejected",
        "interval_minutes",
        "window_start",
        "late",
        "_record_id",
        "_batch_id",
        sim_clock=v._ingested_at,
    )


def touched_aggregates_expr(judged: ir.Table, mapping: ir.Table, timing: Timing) -> ir.Table:
    """`windows.aggregate` of the windows the batch's valid, on-time readings touch, over
    every judged reading of those windows (a replacement of what is stored)."""
    v = _households_expr(judged, mapping, timing)
    valid = v.filter(~v.rejected & ~v.late & v.kwh.notnull())
    keys = valid.filter(valid._target).select("household_id", "channel", "window_start")
    keys = keys.distinct().rename(_k_h="household_id", _k_c="channel", _k_w="window_start")
    mine = valid.semi_join(
        keys,
        [
            valid.household_id == keys._k_h,
            valid.channel == keys._k_c,
            valid.window_start == keys._k_w,
        ],
    )
    return aggregate(mine.drop("window_start", "late"))


def has_reject_rule(rules: ir.StringValue) -> ir.BooleanValue:
    """Whether a comma-separated rule list (`silver.quarantine.rules`) names a REJECT rule."""
    padded = "," + rules.fill_null("") + ","
    out = ibis.literal(False)
    for r in REJECT_RULES:
        out = out | padded.contains(f",{r},")
    return out


def valid_from_silver(silver: ir.Table, quarantine: ir.Table) -> ir.Table:
    """`meter_id, ts, kwh` of the valid measured readings of a silver layer: silver rows that
    are not estimated, and quarantined rows held back only by their score."""
    s = silver.filter(silver.provenance != "estimated").select("meter_id", "ts", "kwh")
    q = quarantine.filter(quarantine.ts.notnull() & ~has_reject_rule(quarantine.rules))
    return s.union(q.select("meter_id", "ts", "kwh"))


def batch_aggregates(silver: ir.Table, quarantine: ir.Table, users: ir.Table) -> ir.Table:
    """The 5-minute aggregates a batch run's silver layer gives (every valid reading counts:
    a file has no arrival clock, so nothing is late)."""
    v = valid_from_silver(silver, quarantine)
    v = v.mutate(ts=v.ts.cast("timestamp"))
    return aggregate(with_household(v, households(users)))


__all__ = [
    "WINDOW",
    "Timing",
    "aggregate",
    "batch_aggregates",
    "has_reject_rule",
    "households",
    "is_final",
    "late_expr",
    "targets_expr",
    "touched_aggregates_expr",
    "valid_from_silver",
    "watermark",
    "window_of",
    "window_start_expr",
    "with_household",
]
