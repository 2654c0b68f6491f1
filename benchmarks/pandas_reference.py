"""Plain pandas implementation of the silver VEE rules, as a baseline for bench_silver.py.

Same semantics as `wattlake.transforms.silver.classify` (parse, per-meter cadence, unit
standardisation at that cadence, parse checks, meter registry, physical limits, timestamp
sanity, duplicate conflicts / backdating by arrival order, run faults on measured rows, low
variance and rate of change on measured rows within physical limits, deductive or additive
score and grade, calendar features), written the way a competent engineer would in
vectorised pandas. Not used by the library; the benchmark's `--check` compares it with the
Ibis engines. Not covered: operator releases (`released`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from wattlake.transforms import silver as lib_silver
from wattlake.transforms.vee import rules as lib_rules
from wattlake.transforms.vee import validation as lib_validation
from wattlake.transforms.vee.profile import VeeProfile

# The rule vocabulary is the library's (the logic below is independent of it), in the
# library's order, which is the order of names in `flags`.
REJECT_RULES = tuple(lib_rules.REJECT_RULES)
FAULT_RULES = lib_rules.METER_FAULT_RULES  # the neighbour rule runs after classify
ROC_RULES = lib_rules.ROC_RULES
FLAG_RULES = ("unit_converted", *ROC_RULES, *FAULT_RULES)
ALL_RULES = REJECT_RULES + FLAG_RULES
NOT_MEASURED = lib_silver.NOT_MEASURED
PHYSICAL = lib_silver.PHYSICAL
SETTLE_BLOCKERS = lib_validation.SETTLE_BLOCKERS


def column(rule_id: str) -> str:
    """The boolean column a rule writes (`r_<rule>`), as in the library."""
    return f"r_{rule_id}"


_WS = " \t\n\r\x0b\x0c"  # what Ibis' strip() trims (TRIM with these on DuckDB)
_D = "[0-9]"
_WELL_FORMED = (
    rf"^{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[T ]{_D}{{2}}:{_D}{{2}}:{_D}{{2}}(?:\.{_D}+)?"
    rf"(?:Z|[+-]{_D}{{2}}:?{_D}{{2}})?$"
)
_OFFSET = r"([+-])([0-9]{2}):?([0-9]{2})$"
_FIELDS = r"^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})$"


def _round(x: np.ndarray, decimals: int) -> np.ndarray:
    """`parse.round_half_up`: half away from zero in plain IEEE arithmetic."""
    scale = 10.0**decimals
    y = x * scale
    with np.errstate(invalid="ignore"):
        return np.where(y >= 0, np.floor(y + 0.5), -np.floor(-y + 0.5)) / scale


def _minutes(x: pd.Series) -> np.ndarray:
    """Whole minutes as timedelta64[s] (no ns overflow next to far-off timestamps)."""
    return (x.to_numpy().astype("int64") * 60).astype("timedelta64[s]")


def _strict_timestamp(head: pd.Series) -> pd.Series:
    """`YYYY-MM-DD HH:MM:SS` → datetime64[us] by the SQL cast's rules (any year 0000–9999,
    `24:00:00` is the next midnight, no leap second); NaT when invalid. For the rare texts
    where pandas' parser differs (years outside its ns range, hour 24, second 60)."""
    f = head.str.extract(_FIELDS).astype("float64")
    y, mo, d, h, mi, s = (f[i].to_numpy() for i in range(6))
    ok = ~np.isnan(y) & (mo >= 1) & (mo <= 12) & (d >= 1)
    ok &= ((h < 24) & (mi < 60) & (s < 60)) | ((h == 24) & (mi == 0) & (s == 0))
    months = np.where(ok, (y - 1970) * 12 + mo - 1, 0).astype("int64").astype("datetime64[M]")
    date = months.astype("datetime64[D]") + np.where(ok, d - 1, 0).astype("int64")
    ok &= date.astype("datetime64[M]") == months  # day within the month
    secs = np.where(ok, h * 3600 + mi * 60 + s, 0).astype("int64")
    out = date.astype("datetime64[us]") + secs.astype("timedelta64[s]")
    return pd.Series(np.where(ok, out, np.datetime64("NaT", "us")), index=head.index)


def parse_timestamp_utc(s: pd.Series) -> pd.Series:
    """`parse.parse_timestamp_utc`: ISO 8601 / LCL text → naive UTC datetime64[us]; NaT when
    it does not parse. Fractional seconds are dropped; an offset is subtracted."""
    s = s.str.strip(_WS)
    well_formed = s.str.match(_WELL_FORMED, na=False).astype(bool)
    head = s.str.slice(0, 19).str.replace("T", " ", regex=False).where(well_formed)
    ts = pd.to_datetime(head, format="%Y-%m-%d %H:%M:%S", errors="coerce").astype("datetime64[us]")
    redo = well_formed & (ts.isna() | (head.str.slice(17, 19) == "60"))
    if redo.any():
        ts[redo] = _strict_timestamp(head[redo])
    # Offsets are rare: only look for them where the text can carry one.
    maybe_offset = well_formed & (s.str.len() > 19) & ~s.str.endswith("Z", na=False).astype(bool)
    if maybe_offset.any():
        off = s[maybe_offset].str.extract(_OFFSET)
        minutes = pd.to_numeric(off[1]) * 60 + pd.to_numeric(off[2])
        sign = np.where(off[0] == "-", -1, 1)
        delta = ((sign * minutes).fillna(0).to_numpy() * 60).astype("timedelta64[s]")
        ts.loc[maybe_offset] = ts[maybe_offset] - delta
    return ts


def parse_number(s: pd.Series) -> pd.Series:
    """`parse.parse_number`: decimal text → float64; NaN for empty, `Null`, non-numeric, NaN
    or infinite. Like the SQL cast, a single `_` between digits is a digit separator."""
    s = s.str.strip(_WS)
    sep = s.str.contains("_", regex=False, na=False).astype(bool)
    if sep.any():
        s = s.copy()
        s[sep] = s[sep].str.replace(r"(?<=[0-9])_(?=[0-9])", "", regex=True)
    x = pd.to_numeric(s, errors="coerce").astype("float64")
    return x.where(np.isfinite(x))


def _meter_cadence(code: np.ndarray, ts: pd.Series, profile: VeeProfile) -> np.ndarray:
    """`cadence.add_cadence`: per row, the most common step between the meter's distinct
    timestamps among the allowed cadences (ties → shorter), else the profile default."""
    d = pd.DataFrame({"m": code, "ts": ts}).dropna(subset=["ts"]).drop_duplicates()
    d = d.sort_values(["m", "ts"])
    secs = d.groupby("m", sort=False)["ts"].diff().dt.total_seconds()
    # SQL casts the double minutes to BIGINT: nearest, ties to even.
    d["step"] = np.rint(secs / 60)
    d = d[d["step"].isin(profile.cadences_minutes)]
    counts = d.groupby(["m", "step"]).size().rename("n").reset_index()
    best = counts.sort_values(["m", "n", "step"], ascending=[True, False, True])
    best = best.drop_duplicates("m").set_index("m")["step"]
    best = best[best.index >= 0]  # a NULL meter id joins to nothing
    out = pd.Series(code).map(best).fillna(profile.interval_minutes)
    return out.to_numpy().astype(np.int32)


def _run_length(member: pd.Series, continues: pd.Series) -> np.ndarray:
    """Readings in the run of `member` rows each row belongs to (0 for non-members); rows
    must be sorted by meter and time, and `continues` false at each meter's first row."""
    start = member & ~continues
    run = start.cumsum()
    return np.where(member, member.groupby(run).transform("sum"), 0)


def _run_faults(
    m: pd.DataFrame, profile: VeeProfile, vacant: list[str] | None
) -> dict[str, pd.Series]:
    """`faults.run_faults` on the measured rows `m` (meter code `code`, `ts`, `kw`,
    `interval_minutes`, `meter_id`): zero / stuck / overload runs; a gap ends a run."""
    m = m.sort_values(["code", "ts"], kind="stable")
    g = m.groupby("code", sort=False)
    kw, prev_kw = m["kw"], g["kw"].shift()
    adj = g["ts"].shift() == m["ts"] - _minutes(m["interval_minutes"])  # NaT compares False
    over = profile.max_kw
    zero_n = _run_length(kw == 0, adj & (prev_kw == 0))
    stuck_n = _run_length(kw > 0, adj & (kw == prev_kw))
    over_n = _run_length(kw > over, adj & (prev_kw > over))
    hours = m["interval_minutes"].to_numpy() / 60.0
    exempt = m["meter_id"].isin(vacant).to_numpy() if vacant else np.zeros(len(m), bool)
    return {
        "fault_zero_run": pd.Series(
            (zero_n * hours >= profile.zero_run_hours) & ~exempt, index=m.index
        ),
        "fault_stuck": pd.Series(stuck_n * hours >= profile.stuck_run_hours, index=m.index),
        "fault_overload": pd.Series(over_n >= profile.overload_run_readings, index=m.index),
    }


def _low_variance(ok: pd.DataFrame, profile: VeeProfile) -> pd.Series:
    """`faults.low_variance`: CV of kW over the UTC day and the `low_cv_days − 1` days
    before it (all present) below `low_cv_threshold`; all-zero windows are not flagged."""
    day = ok["ts"].to_numpy().astype("datetime64[us]").astype("int64") // 86_400_000_000
    x = pd.DataFrame({"code": ok["code"].to_numpy(), "day": day, "kw": ok["kw"].to_numpy()})
    x["kw2"] = x["kw"] * x["kw"]
    daily = x.groupby(["code", "day"]).agg(n=("kw", "size"), s=("kw", "sum"), ss=("kw2", "sum"))
    daily = daily.reset_index()  # sorted by meter, day
    k = profile.low_cv_days
    g = daily.groupby("code", sort=False)
    win = g[["n", "s", "ss"]].rolling(k, min_periods=1).sum().reset_index(drop=True)
    n, s, ss = win["n"].to_numpy(), win["s"].to_numpy(), win["ss"].to_numpy()
    full = (g["day"].shift(k - 1) == daily["day"] - (k - 1)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        var = np.maximum((ss - s * s / n) / (n - 1), 0.0)
        low = full & (n > 1) & (mean > 0) & (np.sqrt(var) / mean < profile.low_cv_threshold)
    low &= (daily["code"] >= 0).to_numpy()  # a NULL meter id joins to nothing
    flagged = pd.Series(low, index=pd.MultiIndex.from_frame(daily[["code", "day"]]))
    key = pd.MultiIndex.from_arrays([x["code"], x["day"]])
    return pd.Series(flagged.reindex(key).to_numpy(), index=ok.index)


def _rate_of_change(ok: pd.DataFrame, profile: VeeProfile) -> tuple[pd.Series, pd.Series]:
    """`validation.rate_of_change`: kW vs the meter's previous interval (exactly one
    cadence step earlier) when that reading is at least `roc_min_base_kw`."""
    ok = ok.sort_values(["code", "ts"], kind="stable")
    g = ok.groupby("code", sort=False)
    prev_kw = g["kw"].shift()
    base = (g["ts"].shift() == ok["ts"] - _minutes(ok["interval_minutes"])) & (
        prev_kw >= profile.roc_min_base_kw
    )
    spike = base & (ok["kw"] > prev_kw * (1 + profile.roc_spike_pct / 100.0))
    drop = base & (ok["kw"] < prev_kw * (1 - profile.roc_drop_pct / 100.0))
    return spike, drop


def classify_pandas(
    bronze: pd.DataFrame,
    profile: VeeProfile,
    holidays: list[dt.date],
    *,
    registry: list[str] | None = None,
    vacant: list[str] | None = None,
    live: bool = False,
) -> pd.DataFrame:
    """All bronze rows with their `r_*` rule columns, score, grade, flags and `quarantined`."""
    df = bronze.copy()
    n = len(df)
    c = column

    # --- parse --------------------------------------------------------------------------
    df["meter_id"] = df["meter_id"].str.strip(_WS)
    code = pd.factorize(df["meter_id"])[0]  # -1 for a NULL meter id
    df["code"] = code
    df["ts"] = ts = parse_timestamp_utc(df["timestamp"])
    v = parse_number(df["value"])
    df["value_num"] = v

    # --- cadence and units ----------------------------------------------------------------
    interval = _meter_cadence(code, ts, profile)
    df["interval_minutes"] = interval
    per_hour = 60.0 / interval
    u = df["unit"].str.strip(_WS).str.lower()
    fmt_known = df["_format"].notna().to_numpy()  # NULL format: SQL leaves unit rules off
    is_lcl = (df["_format"] == "lcl").to_numpy()
    missing = (u.isna() | (u == "")).to_numpy()
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
    not_lcl = fmt_known & ~is_lcl
    df["kw"] = _round(kw, profile.decimals)
    df["kwh"] = _round(kw / per_hour, profile.decimals)
    df[c("unit_converted")] = not_lcl & (is_w | is_wh | infer_kw | infer_w)
    df[c("unit_invalid")] = not_lcl & ~missing & ~known
    df[c("unit_ambiguous")] = not_lcl & missing & ~np.isnan(vv) & ~infer_kw & ~infer_w

    # --- validation ---------------------------------------------------------------------
    kw_s = df["kw"]
    df[c("ts_unparseable")] = ts.isna()
    df[c("value_missing")] = v.isna()
    df[c("unknown_meter")] = (
        ~df["meter_id"].isin(registry) & df["meter_id"].notna() if registry else False
    )
    df[c("negative")] = kw_s < 0  # NaN compares False
    df[c("above_max")] = kw_s > profile.max_kw
    arrived = pd.to_datetime(df["_ingested_at"], utc=True).dt.tz_convert(None)
    if live:
        tol = np.timedelta64(profile.live_tolerance_minutes * 60, "s")
        df[c("future_timestamp")] = ts > arrived + tol
        df[c("backdated")] = ts < arrived - tol
    else:
        df[c("future_timestamp")] = ts > arrived
        df[c("backdated")] = False

    # Duplicates: among the usable readings of an interval the first to arrive settles it;
    # a later one from the same load conflicts, one from a later load is backdated.
    bad = df[[c(r) for r in SETTLE_BLOCKERS]].any(axis=1)
    cand = df.loc[
        ts.notna() & ~bad, ["code", "ts", "_ingested_at", "_batch_id", "_row_number"]
    ].sort_values(["_ingested_at", "_batch_id", "_row_number"], kind="stable")
    later = cand.duplicated(subset=["code", "ts"], keep="first")
    dup = cand[cand.duplicated(subset=["code", "ts"], keep=False)]
    first = dup.groupby(["code", "ts"])["_ingested_at"].transform("min")
    from_later_load = (dup["_ingested_at"] > first).reindex(cand.index, fill_value=False)
    df[c("duplicate_conflict")] = (later & ~from_later_load).reindex(df.index, fill_value=False)
    backdated = (later & from_later_load).reindex(df.index, fill_value=False)
    df[c("backdated")] = df[c("backdated")] | backdated

    # --- faults and rate of change on measured rows ----------------------------------------
    measured = ~df[[c(r) for r in NOT_MEASURED]].any(axis=1)
    physical = df[c("negative")] | df[c("above_max")]
    m = df.loc[measured, ["code", "meter_id", "ts", "kw", "interval_minutes"]]
    for rule, flag in _run_faults(m, profile, vacant).items():
        df[c(rule)] = flag.reindex(df.index, fill_value=False)
    ok = m[~physical[measured]]
    df[c("fault_low_variance")] = _low_variance(ok, profile).reindex(df.index, fill_value=False)
    spike, drop = _rate_of_change(ok, profile)
    df[c("rate_of_change_spike")] = spike.reindex(df.index, fill_value=False)
    df[c("rate_of_change_drop")] = drop.reindex(df.index, fill_value=False)

    # --- score, grade, flags -----------------------------------------------------------
    def any_of(rules: tuple[str, ...]) -> np.ndarray:
        return df[[c(r) for r in rules]].to_numpy().any(axis=1)

    d = profile.deductions
    rejected = any_of(REJECT_RULES)
    roc = any_of(ROC_RULES)
    fault = any_of(FAULT_RULES)
    if profile.scoring == "additive":
        raw = (
            np.where(df[c("value_missing")].to_numpy(), 0, 40)
            + np.where(rejected | roc, 0, 30)
            + np.where(physical.to_numpy(), 0, 20)
            + np.where(fault, 0, 10)
        )
    else:
        warnings = df[[c(r) for r in REJECT_RULES]].to_numpy().sum(axis=1)
        raw = (
            100
            - np.where(df[c("unit_converted")].to_numpy(), d.unit_conversion, 0)
            - warnings * d.validation_warning
            - np.where(roc, d.rate_of_change, 0)
            - np.where(fault, d.fault, 0)
        )
    s = np.clip(raw, 0, 100).astype(np.int32)
    gr = profile.grades
    df["quality_score"] = s
    df["quality_grade"] = np.select([s >= gr.a, s >= gr.b, s >= gr.c], ["A", "B", "C"], "F")
    # Most rows carry no flag: build the comma list only where one fired.
    flagged = df[[c(r) for r in ALL_RULES]].to_numpy()
    any_flag = flagged.any(axis=1)
    flags = np.full(n, "", dtype=object)
    if any_flag.any():
        names = np.array(ALL_RULES, dtype=object)
        flags[any_flag] = [",".join(names[row]) for row in flagged[any_flag]]
    df["flags"] = flags
    df["rejected"] = rejected
    df["quarantined"] = rejected | (s < profile.quarantine_below)

    # --- calendar (UTC) --------------------------------------------------------------------
    date = ts.dt.normalize()
    hour = ts.dt.hour.astype("Int32")
    dow = ts.dt.dayofweek.astype("Int32")
    month = ts.dt.month
    df["date"] = date
    df["hour"] = hour
    df["day_of_week"] = dow
    df["is_weekend"] = dow >= 5
    hol = (
        pd.to_datetime(pd.Series(holidays, dtype="object")).astype(date.dtype) if holidays else None
    )
    df["is_holiday"] = date.isin(hol) if hol is not None else False
    df["season"] = np.select(
        [month.isin([12, 1, 2]), month.isin([3, 4, 5]), month.isin([6, 7, 8])],
        ["WINTER", "SPRING", "SUMMER"],
        "AUTUMN",
    )
    df["is_peak"] = (hour >= profile.peak_start_hour) & (hour < profile.peak_end_hour)
    return df.drop(columns="code")
