"""VEE profiles: thresholds and the scoring scheme as validated data (pydantic).

The default, `greenstream`, is the rule set of seeds/greenstream-architecture.md.
"""

from __future__ import annotations

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
    interval_minutes: int = Field(30, gt=0, le=60)
    decimals: int = Field(4, ge=0, le=9)
    max_kw: float = Field(20.0, gt=0)
    unit_infer_kw_below: float = 10.0
    unit_infer_w_above: float = 1000.0
    roc_spike_pct: float = Field(500.0, gt=0)
    roc_drop_pct: float = Field(90.0, gt=0, lt=100)
    roc_min_base_kw: float = Field(0.1, ge=0)
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
        if self.peak_start_hour >= self.peak_end_hour:
            raise ValueError("peak_start_hour must be before peak_end_hour")
        return self


PROFILES: dict[str, VeeProfile] = {
    "greenstream": VeeProfile(
        name="greenstream",
        description="GreenStream rule set (seeds/greenstream-architecture.md), deductive score",
    ),
}


def get_profile(name: str) -> VeeProfile:
    """The named profile; `InputError` naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown VEE profile '{name}' (known: {', '.join(PROFILES)})") from None
