"""GreenStream alert matrix → `ops.alerts`, plus notifiers. Every alert rule lives here.

Rules (seeds/greenstream-architecture.md):

- `missing_extended` (critical, `gap_alerts`, raised by the silver step for the gaps it
  wrote): a gap ≥ 24 h
- `fault_*` (warning, `fault_run_alerts`, raised by the silver step): one alert per meter and
  fault rule with the number of readings and their span
- `meter_fault` (warning, silver.meter_readings flags, silver.quarantine rules): a `fault_*`
  rule fired for a meter and the pipeline has not raised that fault for the meter yet
- `transformation_failure` (critical, ops.runs): a step row with `status = 'failed'` (the runner
  records it after its 3 retries)
- `low_quality_score` (warning, silver.meter_readings): mean `quality_score` of the rows the
  latest silver run wrote < 80 points
- `ingestion_backlog` (warning, bronze + ops.checkpoints): > 1000 bronze readings in batches
  silver has not processed
- `forecast_degraded` (warning, gold.forecast_accuracy, `forecast_alerts`, raised by
  `wattlake forecast evaluate`): a model's latest day with MAE > 1.5 × its backtest MAE or
  P10–P90 coverage < 60 %
- `forecast_drift` (warning, gold.forecast_drift): a key feature's PSI > 0.25

Stream anomalies (UC4 job 2; raised by the stream runner per micro-batch, also published to
the `anomalies` topic; `stream_anomalies`, `silent_meter_alerts`):

- `impossible_production` (critical): a production (PV) meter's reading below 0 kWh
- `impossible_consumption` (critical): a consumption reading above 50 kWh in one interval
- `statistical_outlier` (warning): a valid reading above the P99.9 of its meter's silver
  history (meters with at least 336 actual readings, a week of half hours)
- `silent_meter` (warning): the watermark passed a meter's last reading by two of its
  intervals (its next reading is overdue) — once per last reading

Writing is idempotent: an alert is identified by (rule, meter_id, message) — messages carry
no wall-clock time — and only identities not yet in `ops.alerts` are appended (NULL
`meter_id` compares equal to NULL here, unlike a SQL MERGE).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import duckdb
import httpx
import pyarrow as pa
import pyarrow.compute as pc

from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.logs import get_logger
from wattlake.observability.metrics import backlog_records
from wattlake.query import existing_relations
from wattlake.transforms.vee.rules import FAULT_RULES

LOW_QUALITY_SCORE = 80.0  # points
BACKLOG_MAX_RECORDS = 1000  # bronze readings pending silver
MAX_CONSUMPTION_KWH = 50.0  # per interval (UC4: consumption > 50 kWh is impossible)
OUTLIER_QUANTILE = 0.999
OUTLIER_MIN_READINGS = 336  # a week of half-hourly history before P99.9 means anything


@dataclass(frozen=True)
class Alert:
    """One `ops.alerts` row."""

    alert_ts: dt.datetime
    severity: str  # critical | warning
    rule: str
    meter_id: str | None
    message: str
    run_id: str | None

    @property
    def identity(self) -> tuple[str, str | None, str]:
        return (self.rule, self.meter_id, self.message)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["alert_ts"] = self.alert_ts.isoformat()
        return d


def gap_alerts(gaps: pa.Table, run_id: str, now: dt.datetime) -> list[Alert]:
    """A critical `missing_extended` alert per extended gap in `gaps` (`silver.gaps` rows)."""
    extended = gaps.filter(pc.equal(gaps["gap_class"], "missing_extended")).to_pylist()
    return [
        Alert(
            now,
            "critical",
            "missing_extended",
            g["meter_id"],
            f"no readings for {g['gap_hours']:.1f} h from {g['gap_start']:%Y-%m-%d %H:%M} "
            f"to {g['next_ts']:%Y-%m-%d %H:%M} UTC",
            run_id,
        )
        for g in extended
    ]


def fault_run_alerts(
    runs: dict[str, list[dict[str, Any]]], run_id: str, now: dt.datetime
) -> list[Alert]:
    """A warning per meter and fault rule: `runs` maps a `fault_*` rule to rows of
    `meter_id`, `n` (readings), `first`, `last` (UTC)."""
    return [
        Alert(
            now,
            "warning",
            rule,
            a["meter_id"],
            f"{a['n']} readings from {a['first']:%Y-%m-%d %H:%M} to {a['last']:%Y-%m-%d %H:%M} UTC",
            run_id,
        )
        for rule, rows in runs.items()
        for a in rows
    ]


def stream_anomalies(
    readings: pa.Table,
    thresholds: dict[str, float],
    run_id: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The anomalies among judged stream readings (`meter_id`, `household_id`, `channel`,
    `ts` UTC, `kwh`, `rejected`, `sim_clock`): `ops.alerts` fields plus `household_id`,
    `ts`, `kwh`, `sim_clock`. `thresholds`: meter → P99.9 kWh of its silver history."""
    out: list[dict[str, Any]] = []
    for r in _anomaly_candidates(readings, thresholds).to_pylist():
        kwh, meter, ts = r["kwh"], r["meter_id"], r["ts"]
        if kwh is None or ts is None:
            continue
        found: tuple[str, str, str] | None = None
        if r["channel"] == "production" and kwh < 0:
            found = ("critical", "impossible_production", f"{kwh:.4f} kWh produced")
        elif r["channel"] != "production" and kwh > MAX_CONSUMPTION_KWH:
            found = (
                "critical",
                "impossible_consumption",
                f"{kwh:.4f} kWh consumed in one interval (> {MAX_CONSUMPTION_KWH:g})",
            )
        elif not r["rejected"] and meter in thresholds and kwh > thresholds[meter]:
            found = (
                "warning",
                "statistical_outlier",
                f"{kwh:.4f} kWh above the meter's P99.9 of {thresholds[meter]:.4f} kWh",
            )
        if found:
            severity, rule, what = found
            out.append(
                {
                    "alert_ts": now,
                    "severity": severity,
                    "rule": rule,
                    "meter_id": meter,
                    "message": f"{what} at {ts:%Y-%m-%d %H:%M} UTC",
                    "run_id": run_id,
                    "household_id": r["household_id"],
                    "ts": ts,
                    "kwh": kwh,
                    "sim_clock": r["sim_clock"],
                }
            )
    return out


def _anomaly_candidates(readings: pa.Table, thresholds: dict[str, float]) -> pa.Table:
    """The rows that may be anomalies (column-wise: a micro-batch has 100,000s of rows)."""
    if readings.num_rows == 0:
        return readings
    kwh = readings["kwh"]
    production = pc.equal(readings["channel"], "production")
    impossible = pc.or_(
        pc.and_(production, pc.less(kwh, 0.0)),
        pc.and_(pc.invert(production), pc.greater(kwh, MAX_CONSUMPTION_KWH)),
    )
    meters = pa.array(list(thresholds), pa.string())
    limits = pa.array(list(thresholds.values()), pa.float64())
    limit = limits.take(pc.index_in(readings["meter_id"], value_set=meters))
    outlier = pc.and_(pc.invert(readings["rejected"]), pc.greater(kwh, limit))
    return readings.filter(pc.fill_null(pc.or_(impossible, outlier), False))


def silent_meter_alerts(
    last_seen: dict[str, tuple[dt.datetime, int]],
    mark: dt.datetime,
    run_id: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """`silent_meter` alerts (fields as `stream_anomalies`) of the meters whose last reading
    (`last_seen`: meter → (ts UTC, interval minutes)) lies two intervals or more behind the
    watermark `mark`."""
    out: list[dict[str, Any]] = []
    for meter, (ts, minutes) in sorted(last_seen.items()):
        if mark >= ts + dt.timedelta(minutes=2 * minutes):
            out.append(
                {
                    "alert_ts": now,
                    "severity": "warning",
                    "rule": "silent_meter",
                    "meter_id": meter,
                    "message": f"no reading after {ts:%Y-%m-%d %H:%M} UTC",
                    "run_id": run_id,
                    "household_id": None,
                    "ts": ts,
                    "kwh": None,
                    "sim_clock": mark,
                }
            )
    return out


def as_alert(d: dict[str, Any]) -> Alert:
    """The `ops.alerts` row of a `stream_anomalies` / `silent_meter_alerts` item."""
    return Alert(d["alert_ts"], d["severity"], d["rule"], d["meter_id"], d["message"], d["run_id"])


def evaluate_alerts(
    con: duckdb.DuckDBPyConnection,
    run_id: str | None = None,
    now: dt.datetime | None = None,
    low_quality_score: float = LOW_QUALITY_SCORE,
    backlog_max: int = BACKLOG_MAX_RECORDS,
) -> list[Alert]:
    """The alerts the current table state calls for (not yet de-duplicated)."""
    now = now or dt.datetime.now(dt.UTC)
    have = existing_relations(con)
    out: list[Alert] = []

    def add(severity: str, rule: str, meter: str | None, msg: str, rid: str | None) -> None:
        out.append(Alert(now, severity, rule, meter, msg, rid if rid else run_id))

    # meter faults not already alerted by the pipeline (rule = the fault id there)
    already = (
        "SELECT rule, meter_id FROM ops.alerts"
        if "ops.alerts" in have
        else "SELECT NULL::VARCHAR AS rule, NULL::VARCHAR AS meter_id WHERE false"
    )
    parts = []
    if "silver.meter_readings" in have:
        parts.append(
            "SELECT meter_id, ts, trim(unnest(string_split(flags, ','))) AS r "
            "FROM silver.meter_readings WHERE flags LIKE '%fault_%'"
        )
    if "silver.quarantine" in have:
        parts.append(
            "SELECT meter_id, ts, trim(unnest(string_split(rules, ','))) AS r "
            "FROM silver.quarantine WHERE rules LIKE '%fault_%'"
        )
    if parts:
        faults = ", ".join(f"'{r}'" for r in FAULT_RULES)
        rows = con.execute(
            f"""SELECT r, meter_id, count(*), min(ts), max(ts)
                FROM ({" UNION ALL ".join(parts)}) f
                WHERE r IN ({faults}) AND meter_id IS NOT NULL
                  AND (r, meter_id) NOT IN ({already})
                GROUP BY ALL ORDER BY 2, 1"""
        ).fetchall()
        for r, meter, n, first, last in rows:
            add(
                "warning",
                "meter_fault",
                meter,
                f"{r}: {n} readings from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC",
                None,
            )
    if "ops.runs" in have:
        for rid, step, msg in con.execute(
            "SELECT run_id, step, coalesce(message, '') FROM ops.runs "
            "WHERE status = 'failed' ORDER BY started_at, run_id, step"
        ).fetchall():
            add(
                "critical",
                "transformation_failure",
                None,
                f"step {step} of {rid} failed: {msg}".rstrip(": "),
                rid,
            )
    if "ops.runs" in have and "silver.meter_readings" in have:
        row = con.execute(
            """WITH last AS (SELECT run_id FROM ops.runs WHERE step = 'silver'
                             AND status = 'success' AND rows_out > 0
                             ORDER BY started_at DESC, run_id DESC LIMIT 1)
               SELECT (SELECT run_id FROM last), avg(quality_score), count(*)
               FROM silver.meter_readings WHERE _run_id = (SELECT run_id FROM last)"""
        ).fetchone()
        if row and row[0] and row[2] and row[1] is not None and row[1] < low_quality_score:
            add(
                "warning",
                "low_quality_score",
                None,
                f"mean quality score {row[1]:.1f} < {low_quality_score:g} over {row[2]} "
                f"silver rows written by {row[0]}",
                str(row[0]),
            )
    pending = backlog_records(con, have)
    if pending > backlog_max:
        add(
            "warning",
            "ingestion_backlog",
            None,
            f"{pending} bronze readings pending silver (> {backlog_max})",
            None,
        )
    return out


def write_alerts(lake: Lake, alerts: Sequence[Alert]) -> list[Alert]:
    """Append the alerts whose (rule, meter_id, message) is not in `ops.alerts`; returns them."""
    existing = lake.read(cat.OPS_ALERTS, ["rule", "meter_id", "message"]).to_pylist()
    seen = {(r["rule"], r["meter_id"], r["message"]) for r in existing}
    new: list[Alert] = []
    for a in alerts:
        if a.identity not in seen:
            seen.add(a.identity)
            new.append(a)
    if new:
        lake.append(cat.OPS_ALERTS, pa.Table.from_pylist([asdict(a) for a in new]))
    return new


def raise_alerts(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    run_id: str | None = None,
    now: dt.datetime | None = None,
    notifiers: Sequence[Notifier] = (),
) -> list[Alert]:
    """Evaluate on `con`, write the new alerts to `lake`, and send them to `notifiers`;
    returns the new alerts."""
    new = write_alerts(lake, evaluate_alerts(con, run_id, now))
    if new:
        notify_all(new, notifiers)
    return new


# -- notifiers -----------------------------------------------------------------------


class Notifier(Protocol):
    """Anything that can deliver a batch of alerts."""

    def notify(self, alerts: Sequence[Alert]) -> None: ...


class LogNotifier:
    """Writes each alert as a structlog event (`alert`), level by severity."""

    def __init__(self) -> None:
        self.log = get_logger(component="alerts")

    def notify(self, alerts: Sequence[Alert]) -> None:
        for a in alerts:
            level = self.log.error if a.severity == "critical" else self.log.warning
            level("alert", **a.to_json())


class WebhookNotifier:
    """POSTs `{"source": "wattlake", "alerts": [...]}` as JSON to `url`.

    `timeout_s` per attempt; up to `retries` further attempts on a transport error or a
    5xx/429 answer, sleeping `backoff_s × 2^attempt` seconds between them. A 4xx answer is
    not retried. Raises `httpx.HTTPError` when every attempt failed.
    """

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)

    def notify(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        payload = {"source": "wattlake", "alerts": [a.to_json() for a in alerts]}
        for attempt in range(self.retries + 1):
            try:
                resp = self.client.post(self.url, json=payload)
                if resp.status_code < 500 and resp.status_code != 429:
                    resp.raise_for_status()
                    return
                resp.raise_for_status()
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500 and exc.response.status_code != 429:
                    raise
                if attempt == self.retries:
                    raise
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
            time.sleep(self.backoff_s * 2**attempt)

    def close(self) -> None:
        self.client.close()


def notify_all(alerts: Sequence[Alert], notifiers: Sequence[Notifier]) -> list[Exception]:
    """Send to every notifier; a failing notifier is logged and does not stop the others."""
    errors: list[Exception] = []
    log = get_logger(component="alerts")
    for n in notifiers:
        try:
            n.notify(alerts)
        except Exception as exc:  # a broken channel must not hide the others
            log.error("notifier_failed", notifier=type(n).__name__, error=str(exc))
            errors.append(exc)
    return errors


# -- forecast monitoring -------------------------------------------------------------

# `forecast_degraded`: the latest day's MAE above this multiple of the model's backtest MAE,
# or P10–P90 coverage below `FORECAST_MIN_COVERAGE`; `forecast_drift`: PSI above the limit.
FORECAST_MAE_FACTOR = 1.5
FORECAST_MIN_COVERAGE = 0.6
FORECAST_MAX_PSI = 0.25


def forecast_alerts(
    con: duckdb.DuckDBPyConnection,
    now: dt.datetime | None = None,
    mae_factor: float = FORECAST_MAE_FACTOR,
    min_coverage: float = FORECAST_MIN_COVERAGE,
    max_psi: float = FORECAST_MAX_PSI,
) -> list[Alert]:
    """Warnings from `gold.forecast_accuracy` (latest day per model and level) and
    `gold.forecast_drift` (rules `forecast_degraded`, `forecast_drift`)."""
    now = now or dt.datetime.now(dt.UTC)
    have = existing_relations(con)
    out: list[Alert] = []
    if "gold.forecast_accuracy" in have:
        rows = con.execute(
            f"""SELECT model, model_version, level, date, mae, reference_mae, coverage
                FROM gold.forecast_accuracy
                QUALIFY row_number() OVER (PARTITION BY model, level
                                           ORDER BY date DESC, evaluated_at DESC) = 1
                   AND ((reference_mae > 0 AND mae > {mae_factor} * reference_mae)
                        OR coverage < {min_coverage})
                ORDER BY model, level"""
        ).fetchall()
        for model, version, level, day, mae, ref, cov in rows:
            why = []
            if ref and mae > mae_factor * ref:
                why.append(f"MAE {mae:.4g} > {mae_factor:g} x backtest {ref:.4g}")
            if cov is not None and cov < min_coverage:
                why.append(f"P10-P90 coverage {cov:.0%} < {min_coverage:.0%}")
            out.append(
                Alert(
                    now,
                    "warning",
                    "forecast_degraded",
                    None,
                    f"{model} v{version} {level} on {day}: {'; '.join(why)}",
                    None,
                )
            )
    if "gold.forecast_drift" in have:
        for model, version, feature, value in con.execute(
            f"""SELECT model, model_version, feature, psi FROM gold.forecast_drift
                WHERE psi > {max_psi} ORDER BY model, feature"""
        ).fetchall():
            out.append(
                Alert(
                    now,
                    "warning",
                    "forecast_drift",
                    None,
                    f"{model} v{version}: feature {feature} PSI {value:.2f} > "
                    f"{max_psi:g} (training window vs last 7 days)",
                    None,
                )
            )
    return out
