"""Unit standardisation: every value to kW (average power) and kWh (energy per interval)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.parse import round_half_away
from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import column

# Unit kinds of `unit_kind` (small integers: cheap to compare many times per row).
W, KW, KWH, WH, MISSING, OTHER = 1, 2, 3, 4, 5, 6
_EXACT = {"kW": KW, "kWh": KWH, "W": W, "Wh": WH, "watts": W}


def unit_kind(unit: ir.StringValue) -> ir.IntegerValue:
    """The kind of a raw unit text, case-insensitive and ignoring surrounding whitespace:
    W (`W`, `watts`), KW, KWH, WH, MISSING (NULL or empty) or OTHER.

    The usual spellings are matched as they are; only the rest is trimmed and lower-cased.
    """
    u = unit.strip().lower()
    general = ibis.cases(
        (u.isin(["w", "watts"]), W),
        (u == "kw", KW),
        (u == "kwh", KWH),
        (u == "wh", WH),
        (u.isnull() | (u == ""), MISSING),
        else_=OTHER,
    )
    exact = [(unit == text, kind) for text, kind in _EXACT.items()]
    return ibis.cases(*exact, else_=general).cast("int8")


def standardise_units(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """Add `kw`, `kwh` and the unit rules from `value_num` (float), `_unit` (`unit_kind` of
    the raw unit), `_format` and the meter's `interval_minutes` (see `cadence.add_cadence`).

    - `lcl`: energy in kWh per half hour (the layout fixes the unit).
    - W/watts → kW ÷ 1000; Wh → kWh ÷ 1000 (both flagged `unit_converted`).
    - kW is average power over the interval; kWh is energy in the interval:
      kW = kWh × 60 / interval_minutes.
    - no unit: value < unit_infer_kw_below → kW, > unit_infer_w_above → W (flagged);
      in between → `unit_ambiguous`. Anything else → `unit_invalid`.
    Values are rounded to `profile.decimals` places.
    """
    per_hour = 60.0 / t.interval_minutes
    k = t._unit
    v = t.value_num
    is_lcl = t._format == "lcl"
    missing = k == MISSING
    infer_kw = missing & (v < profile.unit_infer_kw_below)
    infer_w = missing & (v > profile.unit_infer_w_above)
    kw = ibis.cases(
        (is_lcl, v * per_hour),
        (k == W, v / 1000.0),
        (k == KW, v),
        (k == KWH, v * per_hour),
        (k == WH, v / 1000.0 * per_hour),
        (infer_kw, v),
        (infer_w, v / 1000.0),
        else_=ibis.null("float64"),
    )
    known = is_lcl | (k <= WH)
    return t.mutate(
        kw=round_half_away(kw, profile.decimals),
        kwh=round_half_away(kw / per_hour, profile.decimals),
        **{
            column("unit_converted"): ~is_lcl
            & ((k == W) | (k == WH) | infer_kw | infer_w).fill_null(False),
            column("unit_invalid"): (~is_lcl & ~missing & ~known).fill_null(False),
            column("unit_ambiguous"): (
                ~is_lcl & missing & v.notnull() & ~infer_kw & ~infer_w
            ).fill_null(False),
        },
    ).drop("_unit")
