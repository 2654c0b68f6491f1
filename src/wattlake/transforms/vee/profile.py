"""VEE profiles: thresholds and the scoring scheme as validated data (pydantic).

The default, `greenstream`, is the rule set of seeds/greenstream-architecture.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from wattlake.errors import InputError


class Deductions(BaseModel):
    """Points taken from the base score of 100."""

    unit_conversion: int = 5
    interpolated_hour: int = 10
    validation_warning: int = 15
    rate_of_change: int = 20
    fault: int = 30


class Grades(BaseModel):
    """Lower score bound of each grade (F below `c`)."""

    a: int = 90
    b: int = 75
    c: int = 60


class VeeProfile(BaseModel):
    """Thresholds of the validation rules (units in the field names)."""

    name: str
    description: str = ""
    scoring: Literal["deductive", "additive"] = "deductive"
    # Default cadence when a meter's own cadence cannot be seen (minutes).
    interval_minutes: int = Field(30, gt=0, le=60)
    cadences_minutes: tuple[int, ...] = (5, 10, 15, 30, 60)
    decimals: int = Field(4, ge=0, le=9)
    max_kw: float = Field(20.0, gt=0)
    unit_infer_kw_below: float = 10.0
    unit_infer_w_above: float = 1000.0
    roc_spike_pct: float = Field(500.0, gt=0)
    roc_drop_pct: float = Field(90.0, gt=0, lt=100)
    roc_min_base_kw: float = Field(0.1, ge=0)
    # Timestamp sanity for live streams: within ± this of arrival (minutes).
    live_tolerance_minutes: int = Field(60, gt=0)
    # Gaps: linear interpolation up to this length (hours); `interp_max_inclusive` decides
    # whether a gap of exactly that length is still interpolated.
    interp_max_hours: float = Field(4.0, gt=0)
    interp_max_inclusive: bool = False
    missing_extended_hours: float = Field(24.0, gt=0)
    # Faults.
    zero_run_hours: float = Field(48.0, gt=0)
    stuck_run_hours: float = Field(24.0, gt=0)
    overload_run_readings: int = Field(6, gt=0)
    low_cv_threshold: float = Field(0.01, gt=0)
    low_cv_days: int = Field(7, gt=1)
    # Neighbourhood correlation, per meter and UTC week (Monday 00:00): Pearson correlation of
    # the meter's mean kW per `neighbour_bin_minutes` with the mean of its `neighbour_count`
    # nearest meters of the same channel (consumption or production) within
    # `neighbour_max_km`; a period counts when at least `neighbour_min_present` neighbours
    # have a reading in it, a week when such periods cover `neighbour_min_hours`.
    neighbour_corr_min: float = Field(0.3, ge=-1, le=1)
    neighbour_bin_minutes: int = Field(180, gt=0, le=1440)
    neighbour_count: int = Field(8, gt=0)
    neighbour_max_km: float = Field(25.0, gt=0)
    neighbour_min_present: int = Field(3, gt=0)
    neighbour_min_hours: int = Field(72, gt=2, le=168)
    deductions: Deductions = Deductions()
    grades: Grades = Grades()
    quarantine_below: int = 70
    ml_min_score: int = 90
    peak_start_hour: int = Field(17, ge=0, le=23)
    peak_end_hour: int = Field(21, ge=1, le=24)

    @model_validator(mode="after")
    def _check(self) -> VeeProfile:
        if self.unit_infer_kw_below > self.unit_infer_w_above:
            raise ValueError("unit_infer_kw_below must not exceed unit_infer_w_above")
        if not self.grades.c <= self.grades.b <= self.grades.a <= 100:
            raise ValueError("grades must satisfy c <= b <= a <= 100")
        if self.interp_max_hours > self.missing_extended_hours:
            raise ValueError("interp_max_hours must not exceed missing_extended_hours")
        if 1440 % self.neighbour_bin_minutes:
            raise ValueError("neighbour_bin_minutes must divide a day (1440 minutes)")
        if self.peak_start_hour >= self.peak_end_hour:
            raise ValueError("peak_start_hour must be before peak_end_hour")
        return self


PROFILES: dict[str, VeeProfile] = {
    p.name: p
    for p in (
        VeeProfile(
            name="greenstream",
            description="GreenStream rule set (seeds/greenstream-architecture.md), deductive score",
        ),
        VeeProfile(
            name="greenstream-additive",
            description="GreenStream thresholds with the additive score of "
            "seeds/greenstream-pipeline.md (+40 no missing value, +30 no validation error, "
            "+20 within physical range, +10 meter reliability)",
            scoring="additive",
            quarantine_below=60,
        ),
        VeeProfile(
            name="california",
            description="GreenStream thresholds; linear interpolation only for gaps <= 2 h "
            "(California estimation practice)",
            interp_max_hours=2.0,
            interp_max_inclusive=True,
        ),
        VeeProfile(
            name="ontario",
            description="GreenStream thresholds; linear interpolation only for gaps <= 1 h "
            "(Ontario MDM/R estimation practice)",
            interp_max_hours=1.0,
            interp_max_inclusive=True,
        ),
    )
}


def get_profile(name: str) -> VeeProfile:
    """The named profile; `InputError` naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown VEE profile '{name}' (known: {', '.join(PROFILES)})") from None
