"""Quality score (0–100, deductive) and grade, from the rule columns."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile
from wattlake.transforms.vee.rules import ALL_RULES, REJECT_RULES, column


def _flag(t: ir.Table, rule_id: str) -> ir.BooleanValue:
    name = column(rule_id)
    return t[name] if name in t.columns else ibis.literal(False)


def score(t: ir.Table, profile: VeeProfile) -> ir.Table:
    """Add `quality_score`, `quality_grade`, `flags`, `rejected` and `quarantined`.

    Score = 100 − unit_conversion (if converted) − rate_of_change (if spike or drop)
    − validation_warning per REJECT rule that fired, clipped to 0..100. Grade A ≥ a,
    B ≥ b, C ≥ c, else F. A row is quarantined when a REJECT rule fired or the score is
    below `quarantine_below`.
    """
    d = profile.deductions
    roc = _flag(t, "rate_of_change_spike") | _flag(t, "rate_of_change_drop")
    rejected = ibis.literal(False)
    warnings = ibis.literal(0)
    for rule in REJECT_RULES:
        rejected = rejected | _flag(t, rule)
        warnings = warnings + ibis.ifelse(_flag(t, rule), 1, 0)
    raw = (
        100
        - ibis.ifelse(_flag(t, "unit_converted"), d.unit_conversion, 0)
        - ibis.ifelse(roc, d.rate_of_change, 0)
        - warnings * d.validation_warning
    )
    flags = ibis.literal("")
    for rule in ALL_RULES:
        flags = flags + ibis.ifelse(_flag(t, rule), rule + ",", "")
    s = ibis.greatest(ibis.least(raw, 100), 0).cast("int32")
    g = profile.grades
    grade = ibis.cases((s >= g.a, "A"), (s >= g.b, "B"), (s >= g.c, "C"), else_="F")
    return t.mutate(
        quality_score=s,
        quality_grade=grade,
        flags=flags.re_replace(",$", ""),
        rejected=rejected,
        quarantined=rejected | (s < profile.quarantine_below),
    )
