"""The lake's hourly series to forecast, with quality weights — pure Ibis.

Targets (`TARGETS`; `key` is what a series is named by):

- `consumption` / `household`: kWh per hour per user (consumption meters, or a meter
  without a profile as its own user, as gold does);
- `consumption` / `community`: the sum over the users of a P2P market community
  (`gold.p2p_user_profiles.community_id`), key `community-<id>`;
- `consumption` / `portfolio`: the sum over all users, key `portfolio`;
- `solar` / `prosumer`: PV production kWh per hour per prosumer (PV meters);
- `price` / `zone`: the spot price (EUR/kWh, hourly mean) of the configured zone.

Hourly energy is the mean power of the hour's readings × 1 h (`avg(kw)`), so an hour
with a reading missing still has its energy at the right level.

Quality weights (our own feature; `QualityWeights`): a reading weighs 1 at a quality score
≥ `full_score`, falling linearly to `min_weight` at `floor_score` (the quarantine
threshold: readings with rules that cost points — rate of change, faults — count less);
an estimated (interpolated) reading weighs `estimated_weight`; quarantined readings are
not in silver at all, and an hour weighs its readings' mean weight × the share of its
intervals that are present. Aggregates weigh the mean of their members' weights × the
share of members present (and scale their sum up to all members).
The weights are always computed (evaluation uses them to pick trustworthy actuals);
`QualityWeights.off()` tells training to weigh every hour with a reading 1 (the comparison).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from wattlake.transforms.enrich import nearest_weather_location
from wattlake.transforms.gold import hour_start
from wattlake.transforms.users import CHANNEL_PRODUCTION, meter_channels

# (target, level) pairs; the model of each pair is registered as `wattlake-<target>-<level>`
# except community and portfolio, which share the aggregate consumption model.
TARGETS = (
    ("consumption", "household"),
    ("consumption", "community"),
    ("consumption", "portfolio"),
    ("solar", "prosumer"),
    ("price", "zone"),
)
PORTFOLIO_KEY = "portfolio"
COMMUNITY_PREFIX = "community-"
WEATHER_COLUMNS = ("temperature_c", "cloud_cover_pct", "ghi_w_m2")


@dataclass(frozen=True)
class QualityWeights:
    """Training weight of a reading from its silver quality (module doc); 0–1."""

    enabled: bool = True
    full_score: int = 90
    floor_score: int = 70
    min_weight: float = 0.05
    estimated_weight: float = 0.3

    @classmethod
    def off(cls) -> QualityWeights:
        return cls(enabled=False)

    def reading_weight(
        self, score: ir.IntegerValue, estimated: ir.BooleanValue
    ) -> ir.FloatingValue:
        """The weight of a silver reading (always computed; `enabled` only tells training
        whether to use it)."""
        span = float(self.full_score - self.floor_score)
        lin = ((score.cast("float64") - self.floor_score) / span).clip(self.min_weight, 1.0)
        return ibis.ifelse(estimated.fill_null(False), self.estimated_weight, lin)


def meter_hours(silver: ir.Table, weights: QualityWeights) -> ir.Table:
    """Per meter and hour: `y` (kWh in the hour = mean kW × 1 h) and `weight`."""
    t = silver.mutate(
        _h=hour_start(silver.ts),
        _w=weights.reading_weight(silver.quality_score, silver.is_estimated),
        _per_hour=(60 / silver.interval_minutes.cast("float64")),
    )
    a = t.group_by(["meter_id", "_h"]).aggregate(
        y=t.kw.mean(), _w=t._w.mean(), _n=t.kw.count(), _exp=t._per_hour.max()
    )
    share = (a._n.cast("float64") / a._exp).clip(upper=1.0)
    return a.select(meter_id=a.meter_id, ts=a._h, y=a.y, weight=(a._w * share).cast("float64"))


def _meter_users(users: ir.Table) -> ir.Table:
    """`meter_id → (user_id, channel)`, one user per meter (the first by id)."""
    ch = meter_channels(users)
    w = ibis.window(group_by=ch.meter_id, order_by=[ch.user_id, ch.channel])
    ch = ch.mutate(_r=ibis.row_number().over(w))
    return ch.filter(ch._r == 0).select("meter_id", "user_id", "channel")


def user_series(hours: ir.Table, users: ir.Table, channel: str) -> ir.Table:
    """Per user and hour for one channel: `key` = user id, `y`, `weight`. Consumption also
    takes meters without a profile (their own user)."""
    m = _meter_users(users).rename(_m="meter_id")
    j = hours.left_join(m, hours.meter_id == m._m)
    if channel == CHANNEL_PRODUCTION:
        j = j.filter(j.channel == CHANNEL_PRODUCTION)
    else:
        j = j.filter(j.channel.isnull() | (j.channel != CHANNEL_PRODUCTION))
    j = j.mutate(key=j.user_id.fill_null(j.meter_id))
    a = j.group_by(["key", "ts"]).aggregate(y=j.y.sum(), weight=j.weight.mean())
    return a.select("key", "ts", "y", "weight")


def aggregate_series(household: ir.Table, groups: ir.Table) -> ir.Table:
    """Sums over groups of household series: `groups` has `key` (user) and `group_key`.
    Each hour's sum is scaled to all members (mean of present × members); the weight is the
    members' mean weight × the share present."""
    g = groups.rename(_u="key")
    j = household.join(g, household.key == g._u)
    members = g.group_by("group_key").aggregate(_members=g._u.nunique())
    a = j.group_by(["group_key", "ts"]).aggregate(
        _mean=j.y.mean(), _w=j.weight.mean(), _present=j.y.count()
    )
    a = a.join(members, "group_key")
    m = a._members.cast("float64")
    return a.select(
        key=a.group_key,
        ts=a.ts,
        y=a._mean * m,
        weight=(a._w * (a._present.cast("float64") / m).clip(upper=1.0)).cast("float64"),
    )


def community_groups(household_keys: ir.Table, communities: ir.Table) -> ir.Table:
    """`key` (user) → `group_key` = `community-<id>` (users with a community)."""
    c = communities.filter(communities.community_id.notnull())
    c = c.select(
        _u=c.user_id, group_key=ibis.literal(COMMUNITY_PREFIX) + c.community_id.cast("string")
    )
    k = household_keys.select("key").distinct()
    return k.join(c, k.key == c._u).select("key", "group_key")


def portfolio_groups(household_keys: ir.Table) -> ir.Table:
    k = household_keys.select("key").distinct()
    return k.mutate(group_key=ibis.literal(PORTFOLIO_KEY))


def price_series(prices: ir.Table, zone: str) -> ir.Table:
    """Hourly mean spot price of `zone` (EUR/kWh), key = the zone, weight 1."""
    p = prices.filter(prices.zone == zone)
    p = p.mutate(_h=hour_start(p.ts))
    a = p.group_by("_h").aggregate(y=p.price_eur_per_kwh.mean())
    return a.select(key=ibis.literal(zone), ts=a._h, y=a.y, weight=ibis.literal(1.0))


def hourly_weather(weather: ir.Table) -> ir.Table:
    """`latitude`, `longitude`, `ts` (hour start) and the hour's weather: temperature and
    cloud cover of the row labelled `ts`, radiation (`ghi_w_m2`, W/m²) of the row labelled
    `ts + 1 h` (Open-Meteo: mean over the preceding hour), as `transforms.enrich` aligns it."""
    inst = weather.select("latitude", "longitude", "ts", "temperature_c", "cloud_cover_pct")
    rad = weather.select(
        _la=weather.latitude,
        _lo=weather.longitude,
        _t=weather.ts - ibis.interval(hours=1),
        ghi_w_m2=weather.ghi_w_m2,
    )
    j = inst.left_join(
        rad, [inst.latitude == rad._la, inst.longitude == rad._lo, inst.ts == rad._t]
    )
    return j.select("latitude", "longitude", "ts", "temperature_c", "cloud_cover_pct", "ghi_w_m2")


def user_weather(users: ir.Table, weather: ir.Table, max_distance_km: float) -> ir.Table:
    """Per user and hour: the weather of the user's nearest grid point (`key`, `ts`, …)."""
    near = nearest_weather_location(users, weather, max_distance_km=max_distance_km)
    hw = hourly_weather(weather)
    j = near.join(
        hw,
        [near.weather_latitude == hw.latitude, near.weather_longitude == hw.longitude],
    )
    return j.select(key=j.user_id, ts=j.ts, **{c: j[c] for c in WEATHER_COLUMNS})


def city_weather(weather: ir.Table) -> ir.Table:
    """Per hour: the mean over every grid point (for aggregates and prices)."""
    hw = hourly_weather(weather)
    return hw.group_by("ts").aggregate(**{c: hw[c].mean() for c in WEATHER_COLUMNS})


def hourly_price(prices: ir.Table, zone: str) -> ir.Table:
    """`ts`, `price_eur_per_kwh` (hourly mean of `zone`): a covariate known a day ahead."""
    s = price_series(prices, zone)
    return s.select("ts", price_eur_per_kwh=s.y)


def pv_modelled(modelled: ir.Table) -> ir.Table:
    """`key` (user), `ts`, `pv_modelled_kwh` from `gold.pv_modelled_hourly`."""
    return modelled.select(
        key=modelled.user_id, ts=modelled.hour_ts, pv_modelled_kwh=modelled.modelled_kwh
    )
