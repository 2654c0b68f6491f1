"""Calendar features of an interval start (UTC): hour, weekday, season, holiday, peak."""

from __future__ import annotations

import datetime as dt

import holidays as holidays_lib
import ibis
import ibis.expr.types as ir

from wattlake.transforms.vee.profile import VeeProfile


def uk_holidays(first_year: int, last_year: int) -> list[dt.date]:
    """UK (England) public holidays in the given years, sorted."""
    years = range(first_year, last_year + 1)
    return sorted(holidays_lib.country_holidays("GB", subdiv="ENG", years=years))


def season_of(month: ir.IntegerValue) -> ir.StringValue:
    """Meteorological season (northern hemisphere): DJF winter, MAM spring, JJA summer."""
    return ibis.cases(
        (month.isin([12, 1, 2]), "WINTER"),
        (month.isin([3, 4, 5]), "SPRING"),
        (month.isin([6, 7, 8]), "SUMMER"),
        else_="AUTUMN",
    )


def add_calendar(t: ir.Table, profile: VeeProfile, holidays: list[dt.date]) -> ir.Table:
    """Add `date`, `hour`, `day_of_week` (0 = Monday), `is_weekend`, `is_holiday`, `season`,
    `is_peak` (profile peak hours, e.g. 17:00–21:00) from `ts` (UTC)."""
    date = t.ts.date()
    dow = t.ts.day_of_week.index().cast("int32")
    hour = t.ts.hour().cast("int32")
    is_holiday = date.isin(holidays) if holidays else ibis.literal(False)
    return t.mutate(
        date=date,
        hour=hour,
        day_of_week=dow,
        is_weekend=dow >= 5,
        is_holiday=is_holiday.fill_null(False),
        season=season_of(t.ts.month()),
        is_peak=(hour >= profile.peak_start_hour) & (hour < profile.peak_end_hour),
    )
