"""Edge cases of the silver rules, one meter per case, run together on each engine.

Each case: the bronze rows of one meter, and what the LAST row must come out as.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pytest

ARRIVAL = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@dataclass
class Case:
    rows: list[tuple[str, str | None, str | None]]  # (timestamp, value, unit)
    fmt: str = "meter-csv"
    expect: dict[str, Any] = field(default_factory=dict)  # columns of the last row
    rules: set[str] = field(default_factory=set)  # rule ids that must fire on the last row
    not_rules: set[str] = field(default_factory=set)  # rule ids that must not fire
    later_load_from: int | None = None  # rows from this index on arrive in a later load


def c(*rows: tuple[str, str | None, str | None], **kw: Any) -> Case:
    return Case(list(rows), **kw)


def series(
    values: list[str | None],
    start: str = "2024-03-04T00:00:00",
    minutes: int = 30,
    unit: str = "kW",
) -> list[tuple[str, str | None, str | None]]:
    """Readings every `minutes` from `start` with the given values."""
    t0 = dt.datetime.fromisoformat(start)
    return [
        ((t0 + dt.timedelta(minutes=minutes * i)).isoformat(), v, unit)
        for i, v in enumerate(values)
    ]


def varied(n: int) -> list[str]:
    """A plausible, varying load (kW) for `n` intervals."""
    return [f"{0.4 + 0.3 * ((i * 7) % 11) / 10:.3f}" for i in range(n)]


CASES = [
    # --- worked examples of the seeds ---------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1250", "W"),
            expect={
                "kw": 1.25,
                "kwh": 0.625,
                "quality_score": 95,
                "quality_grade": "A",
                "quarantined": False,
                "is_peak": False,
                "season": "SPRING",
            },
            rules={"unit_converted"},
        ),
        id="greenstream_1250W_score95",
    ),
    pytest.param(
        c(
            ("2024-03-15T18:45:00", "3250", "W"),
            expect={"kw": 3.25, "is_peak": True, "season": "SPRING", "quarantined": False},
        ),
        id="greenstream_3250W_peak_spring",
    ),
    # --- units ----------------------------------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "2.5", "kW"),
            expect={"kw": 2.5, "kwh": 1.25, "quality_score": 100},
        ),
        id="kw_no_conversion",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "0.5", "kWh"),
            expect={"kw": 1.0, "kwh": 0.5, "quality_score": 100},
        ),
        id="kwh_per_half_hour_to_kw",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "500", "Wh"),
            expect={"kwh": 0.5, "kw": 1.0},
            rules={"unit_converted"},
        ),
        id="wh_to_kwh",
    ),
    pytest.param(
        c(("2024-03-15T14:00:00", "1500", "watts"), expect={"kw": 1.5}, rules={"unit_converted"}),
        id="watts_word",
    ),
    pytest.param(
        c(("2024-03-15T14:00:00", "1.5", " KW "), expect={"kw": 1.5}), id="unit_case_and_spaces"
    ),
    pytest.param(
        c(("2024-03-15T14:00:00", "9.99", None), expect={"kw": 9.99}, rules={"unit_converted"}),
        id="missing_unit_below_10_is_kw",
    ),
    pytest.param(
        c(("2024-03-15T14:00:00", "1000.5", None), expect={"kw": 1.0005}, rules={"unit_converted"}),
        id="missing_unit_above_1000_is_w",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "10", None),
            expect={"quarantined": True},
            rules={"unit_ambiguous"},
        ),
        id="missing_unit_exactly_10_ambiguous",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1000", None),
            expect={"quarantined": True},
            rules={"unit_ambiguous"},
        ),
        id="missing_unit_exactly_1000_ambiguous",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "230", "V"),
            expect={"quarantined": True},
            rules={"unit_invalid"},
        ),
        id="volts_rejected",
    ),
    pytest.param(
        c(("2024-03-15T14:00:00", "1.23456789", "kW"), expect={"kw": 1.2346}), id="four_decimals"
    ),
    pytest.param(
        c(
            ("2012-10-12 00:30:00.0000000", "0.219", None),
            fmt="lcl",
            expect={"kwh": 0.219, "kw": 0.438, "quality_score": 100},
        ),
        id="lcl_kwh_per_half_hour",
    ),
    pytest.param(
        c(
            ("2012-10-12 00:30:00.0000000", "Null", None),
            fmt="lcl",
            expect={"quarantined": True},
            rules={"value_missing"},
        ),
        id="lcl_null_value",
    ),
    # --- values and timestamps --------------------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "abc", "kW"),
            expect={"quarantined": True},
            rules={"value_missing"},
        ),
        id="non_numeric_value",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "nan", "kW"),
            expect={"quarantined": True},
            rules={"value_missing"},
        ),
        id="nan_value",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "inf", "kW"),
            expect={"quarantined": True},
            rules={"value_missing"},
        ),
        id="infinite_value",
    ),
    pytest.param(
        c(
            ("2024-02-30T14:00:00", "1", "kW"),
            expect={"quarantined": True},
            rules={"ts_unparseable"},
        ),
        id="impossible_date",
    ),
    pytest.param(
        c(("15/03/2024 14:00", "1", "kW"), expect={"quarantined": True}, rules={"ts_unparseable"}),
        id="non_iso_timestamp",
    ),
    pytest.param(
        c(("2024-03-15T15:00:00+01:00", "1", "kW"), expect={"hour": 14, "quarantined": False}),
        id="offset_converted_to_utc",
    ),
    pytest.param(
        c(("2024-03-15T09:00:00-0500", "1", "kW"), expect={"hour": 14}),
        id="negative_offset_no_colon",
    ),
    pytest.param(c(("2024-03-15T14:00:00Z", "1", "kW"), expect={"hour": 14}), id="zulu"),
    pytest.param(
        c(
            ("2024-06-01T00:00:00Z", "1", "kW"),
            expect={"quarantined": False},
            not_rules={"future_timestamp"},
        ),
        id="at_arrival_not_future",
    ),
    pytest.param(
        c(
            ("2024-06-01T00:30:00Z", "1", "kW"),
            expect={"quarantined": True},
            rules={"future_timestamp"},
        ),
        id="after_arrival_future",
    ),
    pytest.param(
        c(
            ("2013-01-01T00:00:00Z", "1", "kW"),
            expect={"quarantined": False},
            not_rules={"future_timestamp"},
        ),
        id="old_history_not_flagged",
    ),
    # --- physical limits -----------------------------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "-0.001", "kW"),
            expect={"quarantined": True},
            rules={"negative"},
        ),
        id="negative",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "0", "kW"),
            expect={"quarantined": False},
            not_rules={"negative"},
        ),
        id="zero_is_valid",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "20", "kW"),
            expect={"quarantined": False},
            not_rules={"above_max"},
        ),
        id="exactly_20kw_ok",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "20.0001", "kW"),
            expect={"quarantined": True},
            rules={"above_max"},
        ),
        id="above_20kw",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "25000", "W"),
            expect={"quarantined": True},
            rules={"above_max", "unit_converted"},
        ),
        id="above_20kw_after_conversion",
    ),
    # --- duplicates -----------------------------------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:00:00", "2", "kW"),
            expect={"quarantined": True, "kw": 2.0},
            rules={"duplicate_conflict"},
        ),
        id="later_conflicting_duplicate",
    ),
    pytest.param(
        c(
            ("2024-03-15T15:00:00+01:00", "1", "kW"),
            ("2024-03-15T14:00:00Z", "3", "kW"),
            expect={"quarantined": True},
            rules={"duplicate_conflict"},
        ),
        id="duplicate_after_utc_normalisation",
    ),
    # --- rate of change -------------------------------------------------------------------------
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "6.01", "kW"),
            expect={"quality_score": 80, "quality_grade": "B", "quarantined": False},
            rules={"rate_of_change_spike"},
        ),
        id="spike_above_500pct",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "6", "kW"),
            not_rules={"rate_of_change_spike"},
        ),
        id="exactly_500pct_not_spike",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "0.09", "kW"),
            rules={"rate_of_change_drop"},
        ),
        id="drop_below_minus_90pct",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "0.1", "kW"),
            not_rules={"rate_of_change_drop"},
        ),
        id="exactly_minus_90pct_not_drop",
    ),
    pytest.param(
        c(
            ("2024-03-15T13:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "9", "kW"),
            not_rules={"rate_of_change_spike"},
        ),
        id="roc_needs_adjacent_interval",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "0.05", "kW"),
            ("2024-03-15T14:30:00", "3", "kW"),
            not_rules={"rate_of_change_spike"},
        ),
        id="roc_ignores_tiny_base",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "-1", "kW"),
            ("2024-03-15T14:30:00", "3", "kW"),
            not_rules={"rate_of_change_spike"},
            expect={"quarantined": False},
        ),
        id="roc_skips_rejected_previous",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:30:00", "-1", "kW"),
            ("2024-03-15T14:30:00", "6.01", "kW"),
            rules={"rate_of_change_spike"},
        ),
        id="roc_past_out_of_range_reading_same_interval",
    ),
    pytest.param(
        c(
            ("2024-03-15T13:00:00", "1", "kW"),
            ("2024-03-15T13:30:00", "1", "kW"),
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:10:00", "25", "kW"),
            ("2024-03-15T14:30:00", "6.01", "kW"),
            rules={"rate_of_change_spike"},
            expect={"interval_minutes": 30},
        ),
        id="roc_past_out_of_range_reading_off_grid",
    ),
    pytest.param(
        c(
            ("2024-03-15T13:30:00", "1", "kW"),
            ("2024-03-15T14:00:00", "1", "kW"),
            ("2024-03-15T14:10:00", "0.5", "kW"),
            ("2024-03-15T14:30:00", "6.01", "kW"),
            not_rules={"rate_of_change_spike"},
        ),
        id="roc_previous_reading_off_grid_not_adjacent",
    ),
    pytest.param(
        c(
            ("2024-03-15T14:00:00", "1000", "W"),
            ("2024-03-15T14:30:00", "7000", "W"),
            expect={"quality_score": 75, "quality_grade": "B"},
            rules={"unit_converted", "rate_of_change_spike"},
        ),
        id="converted_and_spike_score_75",
    ),
    # --- faults (runs measured in readings at the meter's cadence) -------------------------
    pytest.param(
        Case(
            series(varied(10) + ["0"] * 96),
            expect={"quality_score": 70, "quarantined": False},
            rules={"fault_zero_run"},
        ),
        id="zero_run_48h_fault",
    ),
    pytest.param(
        Case(series(varied(10) + ["0"] * 95), not_rules={"fault_zero_run"}),
        id="zero_run_47h30_no_fault",
    ),
    pytest.param(
        Case(series(varied(10) + ["1.234"] * 48), rules={"fault_stuck"}), id="stuck_24h_fault"
    ),
    pytest.param(
        Case(series(varied(10) + ["1.234"] * 47), not_rules={"fault_stuck"}),
        id="stuck_23h30_no_fault",
    ),
    pytest.param(
        Case(
            series(varied(10) + ["1.234"] * 30 + ["1.235"] + ["1.234"] * 30),
            not_rules={"fault_stuck"},
        ),
        id="stuck_run_interrupted_no_fault",
    ),
    pytest.param(
        Case(
            series(varied(10) + ["1.234"] * 30 + [None] + ["1.234"] * 30),
            not_rules={"fault_stuck"},
        ),
        id="stuck_run_broken_by_missing_value_no_fault",
    ),
    pytest.param(
        Case(series(varied(10) + ["0"] * 50 + ["-1"] + ["0"] * 50), not_rules={"fault_zero_run"}),
        id="zero_run_broken_by_negative_no_fault",
    ),
    pytest.param(
        Case(series(varied(4) + ["1.234"] * 96, minutes=15), rules={"fault_stuck"}),
        id="stuck_24h_on_15min_meter",
    ),
    pytest.param(
        Case(
            series(varied(4) + ["25"] * 6),
            rules={"fault_overload", "above_max"},
            expect={"quarantined": True},
        ),
        id="overload_6_readings",
    ),
    pytest.param(
        Case(series(varied(4) + ["25"] * 5), rules={"above_max"}, not_rules={"fault_overload"}),
        id="overload_5_readings_no_fault",
    ),
    pytest.param(
        Case(
            series([("1.000", "1.010")[i % 2] for i in range(7 * 48)]),
            rules={"fault_low_variance"},
            expect={"quality_score": 70},
        ),
        id="low_cv_7_days",
    ),
    pytest.param(
        Case(
            series([("1.000", "1.010")[i % 2] for i in range(6 * 48)]),
            not_rules={"fault_low_variance"},
        ),
        id="low_cv_6_days_not_enough",
    ),
    pytest.param(
        Case(series(varied(7 * 48)), not_rules={"fault_low_variance"}), id="normal_variance_7_days"
    ),
    # --- cadence ------------------------------------------------------------------------------
    pytest.param(
        Case(
            series(["1", "1", "0.5"], minutes=15, unit="kWh"),
            expect={"kw": 2.0, "kwh": 0.5, "interval_minutes": 15},
        ),
        id="kwh_on_15min_meter_is_4x_kw",
    ),
    # --- calendar ---------------------------------------------------------------------------------
    pytest.param(
        c(("2024-03-16T10:00:00", "1", "kW"), expect={"is_weekend": True, "day_of_week": 5}),
        id="saturday",
    ),
    pytest.param(
        c(("2024-12-25T10:00:00", "1", "kW"), expect={"is_holiday": True, "season": "WINTER"}),
        id="christmas_holiday_winter",
    ),
    pytest.param(
        c(("2024-03-15T21:00:00", "1", "kW"), expect={"is_peak": False}), id="peak_ends_at_21"
    ),
    pytest.param(
        c(("2024-03-15T17:00:00", "1", "kW"), expect={"is_peak": True}), id="peak_starts_at_17"
    ),
]


def bronze_table(cases: list[Case]) -> pa.Table:
    """All cases as one bronze table: meter `case-<i>`, rows in arrival order."""
    rows = []
    for i, case in enumerate(cases):
        for j, (ts, value, unit) in enumerate(case.rows):
            later = case.later_load_from is not None and j >= case.later_load_from
            rows.append(
                {
                    "meter_id": f"case-{i:03d}",
                    "timestamp": ts,
                    "value": value,
                    "unit": unit,
                    "_format": case.fmt,
                    "_batch_id": "b2" if later else "b1",
                    "_source_file": "cases.csv",
                    "_row_number": j + 2,
                    "_ingested_at": ARRIVAL + dt.timedelta(hours=1 if later else 0),
                    "_record_id": f"r-{i}-{j}",
                }
            )
    schema = pa.schema(
        [
            ("meter_id", pa.string()),
            ("timestamp", pa.string()),
            ("value", pa.string()),
            ("unit", pa.string()),
            ("_format", pa.string()),
            ("_batch_id", pa.string()),
            ("_source_file", pa.string()),
            ("_row_number", pa.int64()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_record_id", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)
