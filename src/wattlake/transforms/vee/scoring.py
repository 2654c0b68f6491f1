"""Quality score (0–100) and grade from the rule columns, per the profile's scheme."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import ALL_RULES, FAULT_RULES, REJECT_RULES, ROC_RULES, column


def _flag(t: ir.Table, rule_id: str) -> ir.BooleanValue:
    name = column(rule_id)
    return t[name] if name in t.columns else ibis.literal(False)


def _any(t: ir.Table, rules: tuple[str, ...] | list[str]) -> ir.BooleanValue:
    out = ibis.literal(False)
    for r in rules:
        out = out | _flag(t, r)
    return out


def score(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """Add `quality_score`, `quality_grade`, `flags`, `rejected` and `quarantined`.

    Deductive (default): 100 − unit_conversion (converted) − interpolated_hour × hours
    estimated − validation_warning per REJECT rule − rate_of_change (spike or drop) − fault
    (any fault rule), clipped to 0..100.
    Additive: +40 value present and measured, +30 no validation error (no REJECT rule and no
    rate-of-change flag), +20 within physical range (not negative, not above max), +10 meter
    reliable (no fault rule).
    Grade A ≥ a, B ≥ b, C ≥ c, else F. Quarantined: a REJECT rule fired or the score is below
    `quarantine_below`.
    """
    d = profile.deductions
    roc = _any(t, ROC_RULES)
    fault = _any(t, FAULT_RULES)
    rejected = _any(t, list(REJECT_RULES))
    interpolated = _flag(t, "interpolated")
    if profile.scoring == "additive":
        raw = (
            ibis.ifelse(_flag(t, "value_missing") | interpolated, 0, 40)
            + ibis.ifelse(rejected | roc, 0, 30)
            + ibis.ifelse(_flag(t, "negative") | _flag(t, "above_max"), 0, 20)
            + ibis.ifelse(fault, 0, 10)
        )
    else:
        warnings = ibis.literal(0)
        for rule in REJECT_RULES:
            warnings = warnings + ibis.ifelse(_flag(t, rule), 1, 0)
        hours = t.interval_minutes / 60.0
        raw = (
            100
            - ibis.ifelse(_flag(t, "unit_converted"), d.unit_conversion, 0)
            - ibis.ifelse(interpolated, d.interpolated_hour * hours, 0)
            - warnings * d.validation_warning
            - ibis.ifelse(roc, d.rate_of_change, 0)
            - ibis.ifelse(fault, d.fault, 0)
        )
    s = ibis.greatest(ibis.least(raw, 100), 0).round().cast("int32")
    g = profile.grades
    grade = ibis.cases((s >= g.a, "A"), (s >= g.b, "B"), (s >= g.c, "C"), else_="F")
    # Most readings carry no flag: build the list only where one fired.
    listed = ibis.literal("")
    for rule in ALL_RULES:
        listed = listed + ibis.ifelse(_flag(t, rule), "," + rule, "")
    flags = ibis.ifelse(_any(t, list(ALL_RULES)), listed.substr(1), "")
    released = _flag(t, "released")
    return t.mutate(
        quality_score=s,
        quality_grade=grade,
        flags=flags,
        rejected=rejected,
        quarantined=(rejected | (s < profile.quarantine_below)) & ~released,
    )


def quality_tier(s: ir.IntegerValue, profile: VeeProfile) -> ir.StringValue:
    """What a reading of score `s` may be used for (greenstream-architecture.md, "Usage"):
    `premium` (>= `ml_min_score`: ML training), `standard` (>= `quarantine_below`:
    analytics), `below_threshold` (only an operator release or an estimate gets here)."""
    return ibis.cases(
        (s >= profile.ml_min_score, "premium"),
        (s >= profile.quarantine_below, "standard"),
        else_="below_threshold",
    )
