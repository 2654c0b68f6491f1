"""Unit standardisation: every value to kW (average power) and kWh (energy per interval)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.parse import round_half_up
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import column


def standardise_units(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """Add `kw`, `kwh` and the unit rules from `value_num` (float), `unit`, `_format` and the
    meter's `interval_minutes` (see `cadence.add_cadence`).

    - `lcl`: energy in kWh per half hour (the layout fixes the unit).
    - W/watts → kW ÷ 1000; Wh → kWh ÷ 1000 (both flagged `unit_converted`).
    - kW is average power over the interval; kWh is energy in the interval:
      kW = kWh × 60 / interval_minutes.
    - no unit: value < unit_infer_kw_below → kW, > unit_infer_w_above → W (flagged);
      in between → `unit_ambiguous`. Anything else → `unit_invalid`.
    Values are rounded to `profile.decimals` places.
    """
    per_hour = 60.0 / t.interval_minutes
    u = t.unit.strip().lower()
    v = t.value_num
    is_lcl = t._format == "lcl"
    missing = u.isnull() | (u == "")
    infer_kw = missing & (v < profile.unit_infer_kw_below)
    infer_w = missing & (v > profile.unit_infer_w_above)
    kw = ibis.cases(
        (is_lcl, v * per_hour),
        (u.isin(["w", "watts"]), v / 1000.0),
        (u == "kw", v),
        (u == "kwh", v * per_hour),
        (u == "wh", v / 1000.0 * per_hour),
        (infer_kw, v),
        (infer_w, v / 1000.0),
        else_=ibis.null("float64"),
    )
    known = is_lcl | u.isin(["w", "watts", "kw", "kwh", "wh"])
    return t.mutate(
        kw=round_half_up(kw, profile.decimals),
        kwh=round_half_up(kw / per_hour, profile.decimals),
        **{
            column("unit_converted"): ~is_lcl
            & (u.isin(["w", "watts", "wh"]) | infer_kw | infer_w).fill_null(False),
            column("unit_invalid"): (~is_lcl & ~missing & ~known).fill_null(False),
            column("unit_ambiguous"): (
                ~is_lcl & missing & v.notnull() & ~infer_kw & ~infer_w
            ).fill_null(False),
        },
    )
