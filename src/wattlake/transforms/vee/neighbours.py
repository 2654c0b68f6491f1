"""Neighbourhood correlation fault: a meter whose week does not move with its neighbours'.

GreenStream's fifth fault pattern (seeds/greenstream-architecture.md: "correlation with
nearby meters < 0.3, atypical pattern, statistical review"). Per meter and UTC week
(Monday 00:00 to Monday 00:00), the Pearson correlation of the meter's mean kW per period
of `neighbour_bin_minutes` (3 h by default) with the mean kW of its `neighbour_count`
nearest meters of the same channel (a consumption meter is compared with consumption
meters, a PV meter with PV meters) within `neighbour_max_km`. A period counts when the meter
and at least `neighbour_min_present` neighbours have a reading in it; a week is judged when
such periods cover `neighbour_min_hours` and both series vary. 3-hour periods rather than
hours: households whose evening peak comes early or late are less often mistaken for faults
(see docs/DATA_DICTIONARY.md). Readings that another rule rejected or that are in a fault run
of their own meter (zero, stuck, overload, low variance) are left out of both series.

Unlike the other rules this one compares meters, so it runs after every meter is classified
(`silver.classify` classifies meters apart). Neighbours come from the meters' locations in a
small Python step (`neighbour_pairs`, a k-d tree); the correlation is an Ibis expression and
runs on every engine.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from wattlake.geo import EARTH_RADIUS_KM
from wattlake.transforms.users import latest_user_location, meter_channels
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import (
    METER_FAULT_RULES,
    NEIGHBOUR_RULE,
    REJECT_RULES,
    column,
)
from wattlake.transforms.vee.scoring import score

PAIR_SCHEMA = pa.schema(
    [("meter_id", pa.string()), ("neighbour_id", pa.string()), ("distance_km", pa.float64())]
)


def meter_locations(users: ir.Table) -> ir.Table:
    """`meter_id, channel, latitude, longitude` (degrees) of every consumption and PV meter
    whose user has a location (latest profile version; a meter of several users takes the
    first user id)."""
    ch = meter_channels(users)
    loc = latest_user_location(users).rename(_uid="user_id")
    j = ch.join(loc, ch.user_id == loc._uid)
    w = ibis.window(group_by=j.meter_id, order_by=[j.user_id, j.channel])
    j = j.mutate(_rank=ibis.row_number().over(w))
    return j.filter(j._rank == 0).select("meter_id", "channel", "latitude", "longitude")


def _unit_vectors(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def neighbour_pairs(locations: pa.Table, profile: VeeProfile) -> pa.Table:
    """`meter_id, neighbour_id, distance_km`: for each meter of `locations`
    (`meter_locations`), its up to `neighbour_count` nearest other meters of the same
    channel within `neighbour_max_km` (great-circle km; equal distances: smaller id first)."""
    from scipy.spatial import cKDTree

    out: dict[str, list[object]] = {"meter_id": [], "neighbour_id": [], "distance_km": []}
    ids_all = np.asarray(locations["meter_id"].to_pylist(), dtype=object)
    channels = np.asarray(locations["channel"].to_pylist(), dtype=object)
    lat = locations["latitude"].to_numpy(zero_copy_only=False).astype(float)
    lon = locations["longitude"].to_numpy(zero_copy_only=False).astype(float)
    # Chord length on the unit sphere of the great-circle distance limit.
    max_chord = 2 * np.sin(min(profile.neighbour_max_km / EARTH_RADIUS_KM, np.pi) / 2)
    for ch in sorted(set(channels)):
        idx = np.flatnonzero(channels == ch)
        if idx.size < 2:
            continue
        ids, xyz = ids_all[idx], _unit_vectors(lat[idx], lon[idx])
        tree = cKDTree(xyz)
        k = min(profile.neighbour_count + 1, idx.size)
        chord, _ = tree.query(xyz, k=k, distance_upper_bound=max_chord * (1 + 1e-12))
        chord = np.where(np.isfinite(chord), chord, 0.0).reshape(idx.size, -1)
        # Everything as near as the k-th nearest, so that ties are broken by id.
        radius = chord.max(axis=1) * (1 + 1e-9) + 1e-15
        for i, cands in enumerate(tree.query_ball_point(xyz, radius)):
            cands = [j for j in cands if j != i]
            c = np.linalg.norm(xyz[cands] - xyz[i], axis=1) if cands else np.empty(0)
            km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(c / 2, 1.0))
            near = sorted(
                (round(float(d), 9), str(ids[j]))
                for d, j in zip(km, cands, strict=True)
                if d <= profile.neighbour_max_km
            )
            for d, other in near[: profile.neighbour_count]:
                out["meter_id"].append(str(ids[i]))
                out["neighbour_id"].append(other)
                out["distance_km"].append(d)
    return pa.table(out, schema=PAIR_SCHEMA)


def usable(classified: ir.Table) -> ir.Table:
    """The classified readings the correlation uses: not rejected, in no fault run of their
    own meter."""
    keep = ~classified.rejected
    for rule in METER_FAULT_RULES:
        keep = keep & ~classified[column(rule)]
    return classified.filter(keep)


def usable_flagged(t: ir.Table, rules: ir.StringValue) -> ir.Table:
    """The rows of a stored table (`silver.meter_readings` with `flags`, or
    `silver.quarantine` with `rules`: comma-separated rule ids) that `usable` would keep:
    none of the rejecting or meter-fault rules among `rules`."""
    listed = "," + rules + ","
    keep = ibis.literal(True)
    for rule in (*REJECT_RULES, *METER_FAULT_RULES):
        keep = keep & ~listed.contains(f",{rule},")
    return t.filter(keep)


def bin_of(ts: ir.TimestampValue, profile: VeeProfile) -> ir.IntegerValue:
    """Periods of `neighbour_bin_minutes` since 1970-01-01 UTC of `ts`."""
    return (ts.epoch_seconds() // (profile.neighbour_bin_minutes * 60)).cast("int64")


def week_of(bin_: ir.IntegerValue, profile: VeeProfile) -> ir.IntegerValue:
    """Weeks since the Monday before 1970-01-01 (a Thursday) of a `bin_of` period."""
    return (bin_ // (1440 // profile.neighbour_bin_minutes) + 3) // 7


def week_start(ts: dt.datetime) -> dt.datetime:
    """The Monday 00:00 UTC that starts the week (`week_of`) of `ts` (aware or naive UTC)."""
    day = ts.astimezone(dt.UTC) if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
    monday = day.date() - dt.timedelta(days=day.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)


def judged_with(pairs: pa.Table, meters: list[str]) -> list[str]:
    """The meters other than `meters` that have one of `meters` among their neighbours
    (`neighbour_pairs`): new readings of `meters` can change their weeks' verdicts."""
    own = set(meters)
    return sorted(
        {
            m
            for m, n in zip(
                pairs["meter_id"].to_pylist(), pairs["neighbour_id"].to_pylist(), strict=True
            )
            if n in own and m not in own
        }
    )


def binned_kw(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """`meter_id, _bin` (`bin_of`), `kw` (mean kW of the period) from readings
    `meter_id, ts, kw`."""
    t = t.select("meter_id", "kw", _bin=bin_of(t.ts, profile))
    return t.group_by(["meter_id", "_bin"]).aggregate(kw=t.kw.mean())


def weekly_correlation(
    own: ir.Table, others: ir.Table, pairs: ir.Table, profile: VeeProfile
) -> ir.Table:
    """`meter_id, _week, n_bins, corr` for the meters of `own` (`binned_kw`): the Pearson
    correlation over the week's periods of the meter's kW with the mean kW of its neighbours
    (`pairs`, their periods from `others`) present in the period, over the `n_bins` periods
    with at least `neighbour_min_present` of them. `corr` is NULL when either series is
    constant."""
    o = others.rename(_nid="meter_id", _nkw="kw", _nbin="_bin")
    p = pairs.select(_pm="meter_id", _pn="neighbour_id")
    ref = p.join(o, p._pn == o._nid)
    ref = ref.group_by([ref._pm, ref._nbin]).aggregate(_ref=ref._nkw.mean(), _present=ref.count())
    ref = ref.filter(ref._present >= profile.neighbour_min_present)
    j = own.join(ref, [own.meter_id == ref._pm, own._bin == ref._nbin])
    j = j.mutate(_week=week_of(j._bin, profile), _x=j.kw, _y=j._ref)
    s = j.group_by(["meter_id", "_week"]).aggregate(
        n_bins=j.count(),
        _sx=j._x.sum(),
        _sy=j._y.sum(),
        _sxx=(j._x * j._x).sum(),
        _syy=(j._y * j._y).sum(),
        _sxy=(j._x * j._y).sum(),
    )
    n = s.n_bins.cast("float64")
    vx = n * s._sxx - s._sx * s._sx
    vy = n * s._syy - s._sy * s._sy
    cov = n * s._sxy - s._sx * s._sy
    # Relative tolerance: a constant series leaves only rounding in n·Σx² − (Σx)².
    flat_x = vx <= 1e-12 * n * s._sxx
    flat_y = vy <= 1e-12 * n * s._syy
    corr = ibis.ifelse(flat_x | flat_y, ibis.null("float64"), cov / (vx * vy).sqrt())
    return s.select("meter_id", "_week", "n_bins", corr=corr)


def low_correlation_weeks(
    own: ir.Table, others: ir.Table, pairs: ir.Table, profile: VeeProfile
) -> ir.Table:
    """`weekly_correlation` rows of the weeks whose periods cover `neighbour_min_hours` and
    whose correlation is below `neighbour_corr_min`: the fault."""
    c = weekly_correlation(own, others, pairs, profile)
    min_bins = profile.neighbour_min_hours * 60 // profile.neighbour_bin_minutes
    return c.filter(
        (c.n_bins >= min_bins) & c.corr.notnull() & (c.corr < profile.neighbour_corr_min)
    )


def apply_neighbour_fault(classified: ir.Table, weeks: ir.Table, profile: VeeProfile) -> ir.Table:
    """`classified` with the `fault_neighbour_corr` column (readings not rejected, in one of
    `weeks`: `meter_id, _week`) and the score, grade, flags and quarantine decision again."""
    w = weeks.select(_wm="meter_id", _ww="_week", _hit=ibis.literal(True))
    week = week_of(bin_of(classified.ts, profile), profile)
    j = classified.left_join(w, [classified.meter_id == w._wm, week == w._ww])
    j = j.mutate(**{column(NEIGHBOUR_RULE): ~j.rejected & j._hit.fill_null(False)})
    return score(j.drop("_wm", "_ww", "_hit"), profile)


def without_neighbour_fault(classified: ir.Table) -> ir.Table:
    """`classified` with the rule's column all false (no neighbours known: the rule is off;
    the score is unchanged)."""
    return classified.mutate(**{column(NEIGHBOUR_RULE): ibis.literal(False)})
