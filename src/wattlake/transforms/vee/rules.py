"""Rule ids: every flag in `silver.meter_readings.flags` and `silver.quarantine.rules`.

A REJECT rule sends the reading to quarantine whatever its score; a FLAG rule deducts
points (see `scoring.py`) and the reading is quarantined only when the score drops below
the profile's `quarantine_below`.
"""

from __future__ import annotations

REJECT_RULES: dict[str, str] = {
    "ts_unparseable": "timestamp missing or not ISO 8601 / LCL text",
    "value_missing": "value empty, `Null`, non-numeric, NaN or infinite",
    "unit_invalid": "unit not one of W, watts, Wh, kW, kWh (case-insensitive) or empty",
    "unit_ambiguous": "no unit and the value lies between the kW and W inference bounds",
    "unknown_meter": "meter id not in the loaded meter registry (off when none is loaded)",
    "negative": "power below 0 kW (physical limit)",
    "above_max": "power above the profile's max_kw (20 kW residential limit)",
    "future_timestamp": "files: interval starts after the file arrived; live: more than "
    "live_tolerance_minutes after arrival",
    "backdated": "files: a different value for an interval settled by an earlier load; "
    "live: more than live_tolerance_minutes before arrival",
    "duplicate_conflict": "another reading for the same meter and interval in the same load "
    "arrived first",
}

FLAG_RULES: dict[str, str] = {
    "unit_converted": "value converted from W/Wh or its unit inferred (-5)",
    "rate_of_change_spike": "power rose more than roc_spike_pct above the previous interval (-20)",
    "rate_of_change_drop": "power fell more than roc_drop_pct below the previous interval (-20)",
    "fault_zero_run": "part of a run of exactly 0 kW lasting >= zero_run_hours (-30; "
    "vacant meters in the registry are exempt)",
    "fault_stuck": "part of a run of the same non-zero value lasting >= stuck_run_hours (-30)",
    "fault_overload": "part of >= overload_run_readings consecutive readings above max_kw (-30)",
    "fault_low_variance": "coefficient of variation over low_cv_days days below "
    "low_cv_threshold (-30)",
    "fault_neighbour_corr": "the meter's hourly kW over its UTC week correlates below "
    "neighbour_corr_min with the mean of its nearest same-channel meters (-30)",
    "interpolated": "estimated by linear interpolation across a short gap (-10 per hour "
    "interpolated, i.e. -5 per half-hour reading)",
    "released": "released from quarantine by an operator (`wattlake quarantine release`)",
}

# Faults found from one meter's readings (`silver.classify`), and the one that compares a
# meter with its neighbours (`vee.neighbours`, after all meters are classified).
METER_FAULT_RULES = ("fault_zero_run", "fault_stuck", "fault_overload", "fault_low_variance")
NEIGHBOUR_RULE = "fault_neighbour_corr"
FAULT_RULES = (*METER_FAULT_RULES, NEIGHBOUR_RULE)
ROC_RULES = ("rate_of_change_spike", "rate_of_change_drop")

ALL_RULES: dict[str, str] = {**REJECT_RULES, **FLAG_RULES}

# Named in `silver.quarantine.rules` when no REJECT rule fired but the score is too low.
SCORE_RULE = "score_below_threshold"

# Gap classes in `silver.gaps.gap_class`.
GAP_CLASSES: dict[str, str] = {
    "interpolated": "shorter than the profile's interpolation limit: estimated rows created",
    "missing_short": "up to missing_extended_hours: no estimate, excluded from peak analysis",
    "missing_extended": ">= missing_extended_hours: no estimate, critical alert in ops.alerts",
}


def column(rule_id: str) -> str:
    """The boolean column a rule writes in the classified table."""
    return f"r_{rule_id}"
