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
    "negative": "power below 0 kW (physical limit)",
    "above_max": "power above the profile's max_kw (20 kW residential limit)",
    "future_timestamp": "interval starts after the file arrived (_ingested_at)",
    "duplicate_conflict": "another reading for the same meter and interval arrived first",
}

FLAG_RULES: dict[str, str] = {
    "unit_converted": "value converted from W/Wh or its unit inferred (-5)",
    "rate_of_change_spike": "power rose more than roc_spike_pct above the previous interval (-20)",
    "rate_of_change_drop": "power fell more than roc_drop_pct below the previous interval (-20)",
}

ALL_RULES: dict[str, str] = {**REJECT_RULES, **FLAG_RULES}

# Named in `silver.quarantine.rules` when no REJECT rule fired but the score is too low.
SCORE_RULE = "score_below_threshold"


def column(rule_id: str) -> str:
    """The boolean column a rule writes in the classified table."""
    return f"r_{rule_id}"
