"""Plain pandas implementation of the silver VEE rules, as a baseline for bench_silver.py.

Same semantics as `wattlake.transforms.silver.classify` (parse, unit standardisation,
physical limits, future timestamps, duplicate conflicts by arrival order, rate of change
among non-rejected rows, deductive score and grade, calendar features), written the way a
competent engineer would in vectorised pandas. Not used by the library; the benchmark's
`--check` compares it with the Ibis engines.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from wattlake.transforms.vee.profile import VeeProfile

# The rule set this reference implements (silver.classify as of the benchmark's writing).
REJECT_RULES = (
    "ts_unparseable",
    "value_missing",
    "unit_invalid",
    "unit_ambiguous",
    "negative",
    "above_max",
    "future_timestamp",
    "duplicate_conflict",
)
HARD_RULES = REJECT_RULES
FLAG_RULES = ("unit_converted", "rate_of_change_spike", "rate_of_change_drop")
ALL_RULES = REJECT_RULES + FLAG_RULES


def column(rule_id: str) -> str:
    """The boolean column a rule writes (`r_<rule>`), as in the library."""
    return f"r_{rule_id}"


_WELL_FORMED = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?$"
_OFFSET = r"([+-])(\d\d):?(\d\d)$"


def _round(x: pd.Series, decimals: int) -> pd.Series:
    """Round half away from zero, like SQL ROUND on a double (numpy rounds half to even)."""
    m = 10.0**decimals
    return np.sign(x) * np.floor(np.abs(x) * m + 0.5) / m


def parse_timestamp_utc(s: pd.Series) -> pd.Series:
    """ISO 8601 / LCL text → naive UTC datetime64; NaT when it does not parse."""
    s = s.str.strip()
    well_formed = s.str.match(_WELL_FORMED).fillna(False).astype(bool)
    naive = pd.to_datetime(
        s.str.slice(0, 19).str.replace("T", " ", regex=False),
        format="%Y-%m-%d %H:%M:%S",
        errors="coerce",
    )
    # Offsets are rare: only look for them where the text can carry one.
    ts = naive.where(well_formed)
    maybe_offset = well_formed & (s.str.len() > 19) & ~s.str.endswith("Z")
    if maybe_offset.any():
        off = s[maybe_offset].str.extract(_OFFSET)
        minutes = pd.to_numeric(off[1]) * 60 + pd.to_numeric(off[2])
        sign = np.where(off[0] == "-", -1, 1)
        delta = pd.to_timedelta((sign * minutes).fillna(0), unit="m")
        ts.loc[maybe_offset] = ts[maybe_offset] - delta
    return ts


def parse_number(s: pd.Series) -> pd.Series:
    """Decimal text → float64; NaN for empty, `Null`, non-numeric, NaN or infinite."""
    x = pd.to_numeric(s.str.strip(), errors="coerce").astype("float64")
    return x.where(np.isfinite(x))


def classify_pandas(
    bronze: pd.DataFrame, profile: VeeProfile, holidays: list[dt.date]
) -> pd.DataFrame:
    """All bronze rows with their `r_*` rule columns, score, grade, flags and `quarantined`."""
    df = bronze.copy()
    n = len(df)
    c = column

    # --- parse --------------------------------------------------------------------------
    df["meter_id"] = df["meter_id"].str.strip()
    df["ts"] = parse_timestamp_utc(df["timestamp"])
    v = parse_number(df["value"])
    df["value_num"] = v

    # --- units --------------------------------------------------------------------------
    per_hour = 60.0 / profile.interval_minutes
    u = df["unit"].fillna("").str.strip().str.lower()
    is_lcl = (df["_format"] == "lcl").to_numpy()
    missing = (u == "").to_numpy()
    vv = v.to_numpy()
    is_w = u.isin(["w", "watts"]).to_numpy()
    is_kw = (u == "kw").to_numpy()
    is_kwh = (u == "kwh").to_numpy()
    is_wh = (u == "wh").to_numpy()
    with np.errstate(invalid="ignore"):
        infer_kw = missing & (vv < profile.unit_infer_kw_below)
        infer_w = missing & (vv > profile.unit_infer_w_above)
    kw = np.select(
        [is_lcl, is_w, is_kw, is_kwh, is_wh, infer_kw, infer_w],
        [vv * per_hour, vv / 1000.0, vv, vv * per_hour, vv / 1000.0 * per_hour, vv, vv / 1000.0],
        default=np.nan,
    )
    known = is_lcl | is_w | is_kw | is_kwh | is_wh
    df["kw"] = _round(pd.Series(kw, index=df.index), profile.decimals)
    df["kwh"] = _round(pd.Series(kw / per_hour, index=df.index), profile.decimals)
    df["interval_minutes"] = np.int32(profile.interval_minutes)
    df[c("unit_converted")] = ~is_lcl & (is_w | is_wh | infer_kw | infer_w)
    df[c("unit_invalid")] = ~is_lcl & ~missing & ~known
    df[c("unit_ambiguous")] = ~is_lcl & missing & ~np.isnan(vv) & ~infer_kw & ~infer_w

    # --- validation ---------------------------------------------------------------------
    kw_s = df["kw"]
    df[c("ts_unparseable")] = df["ts"].isna()
    df[c("value_missing")] = v.isna()
    df[c("negative")] = (kw_s < 0).to_numpy()  # NaN compares False
    df[c("above_max")] = (kw_s > profile.max_kw).to_numpy()
    arrived = pd.to_datetime(df["_ingested_at"], utc=True).dt.tz_convert(None)
    df[c("future_timestamp")] = (df["ts"] > arrived).to_numpy()

    # First arrival per (meter, interval) is settled; later ones conflict.
    order = df.sort_values(["_ingested_at", "_batch_id", "_row_number"], kind="stable")
    later = order.duplicated(subset=["meter_id", "ts"], keep="first").reindex(df.index)
    df[c("duplicate_conflict")] = df["ts"].notna() & later

    hard = np.zeros(n, dtype=bool)
    for rule in HARD_RULES:
        hard |= df[c(rule)].to_numpy()

    # --- rate of change among the rows no rejecting rule fired on -------------------------
    ok = df.loc[~hard, ["meter_id", "ts", "kw"]].sort_values(["meter_id", "ts"])
    g = ok.groupby("meter_id", sort=False, dropna=False)
    prev_kw = g["kw"].shift()
    prev_ts = g["ts"].shift()
    step = pd.Timedelta(minutes=profile.interval_minutes)
    base = (prev_ts == ok["ts"] - step) & (prev_kw >= profile.roc_min_base_kw)
    spike = base & (ok["kw"] > prev_kw * (1 + profile.roc_spike_pct / 100.0))
    drop = base & (ok["kw"] < prev_kw * (1 - profile.roc_drop_pct / 100.0))
    df[c("rate_of_change_spike")] = spike.reindex(df.index, fill_value=False)
    df[c("rate_of_change_drop")] = drop.reindex(df.index, fill_value=False)

    # --- score, grade, flags -----------------------------------------------------------
    d = profile.deductions
    rejected = np.zeros(n, dtype=bool)
    warnings = np.zeros(n, dtype=np.int64)
    for rule in REJECT_RULES:
        f = df[c(rule)].to_numpy()
        rejected |= f
        warnings += f
    roc = df[c("rate_of_change_spike")].to_numpy() | df[c("rate_of_change_drop")].to_numpy()
    raw = (
        100
        - np.where(df[c("unit_converted")].to_numpy(), d.unit_conversion, 0)
        - np.where(roc, d.rate_of_change, 0)
        - warnings * d.validation_warning
    )
    s = np.clip(raw, 0, 100).astype(np.int32)
    gr = profile.grades
    df["quality_score"] = s
    df["quality_grade"] = np.select([s >= gr.a, s >= gr.b, s >= gr.c], ["A", "B", "C"], "F")
    # Most rows carry no flag: build the comma list only where one fired.
    flag_cols = [c(r) for r in ALL_RULES]
    flagged = df[flag_cols].to_numpy()
    any_flag = flagged.any(axis=1)
    flags = np.full(n, "", dtype=object)
    if any_flag.any():
        names = np.array(ALL_RULES, dtype=object)
        flags[any_flag] = [",".join(names[row]) for row in flagged[any_flag]]
    df["flags"] = flags
    df["rejected"] = rejected
    df["quarantined"] = rejected | (s < profile.quarantine_below)

    # --- calendar (UTC) --------------------------------------------------------------------
    ts = df["ts"]
    date = ts.dt.normalize()
    hour = ts.dt.hour.astype("Int32")
    dow = ts.dt.dayofweek.astype("Int32")
    month = ts.dt.month
    df["date"] = date
    df["hour"] = hour
    df["day_of_week"] = dow
    df["is_weekend"] = dow >= 5
    hol = pd.to_datetime(pd.Series(holidays, dtype="object")) if holidays else None
    df["is_holiday"] = date.isin(hol) if hol is not None else False
    df["season"] = np.select(
        [month.isin([12, 1, 2]), month.isin([3, 4, 5]), month.isin([6, 7, 8])],
        ["WINTER", "SPRING", "SUMMER"],
        "AUTUMN",
    )
    df["is_peak"] = (hour >= profile.peak_start_hour) & (hour < profile.peak_end_hour)
    return df
