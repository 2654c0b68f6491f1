"""Run the check registry on the SQL connection of a context, store the results, and gate
promotion.

    results = run_checks(ctx.sql(), run_id, layers=["bronze", "silver"])
    store_results(ctx.lake, results)
    if failures := gate(results, "silver"):
        raise QualityGateError(failures)        # unless --force

Each check is one SQL query on the DuckDB connection of `Context.sql()` (Delta and
the warehouse read in place); only its one-row answer comes back to Python.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import duckdb
import pyarrow as pa

from wattlake.errors import PipelineError
from wattlake.lake.catalog import OPS_QUALITY_RESULTS
from wattlake.lake.delta import Lake
from wattlake.quality.checks import CHECKS, LAYERS, Check, build_checks
from wattlake.query import existing_relations
from wattlake.transforms.vee.profile import get_profile

Status = Literal["passed", "failed", "skipped", "error"]


@dataclass
class CheckResult:
    """The outcome of one check in one run (`passed` is None when skipped)."""

    run_id: str
    checked_at: dt.datetime
    check_id: str
    layer: str
    severity: str
    description: str
    status: Status
    passed: bool | None
    observed: str
    failing_rows: int
    sample: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def failed(self) -> bool:
        return self.passed is False

    def to_row(self) -> dict[str, object]:
        row = asdict(self)
        row["sample"] = json.dumps(self.sample)
        return row


class QualityGateError(PipelineError):
    """Error-severity checks failed: the batch is not promoted to the next layer."""

    def __init__(self, failures: Sequence[CheckResult], layer: str = "") -> None:
        self.failures = list(failures)
        ids = ", ".join(f"{r.check_id} ({r.failing_rows} rows)" for r in failures[:5])
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        super().__init__(
            f"quality gate{' ' + layer if layer else ''} failed: {ids}{more} — "
            "see `wattlake quality report`, or re-run with --force"
        )


def _now_sql(now: dt.datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return f"TIMESTAMPTZ '{now.astimezone(dt.UTC).isoformat()}'"


def evaluate(
    con: duckdb.DuckDBPyConnection,
    check: Check,
    run_id: str,
    now: dt.datetime,
    relations: set[str] | None = None,
) -> CheckResult:
    """Evaluate one check on an open connection (missing tables → skipped or failed)."""
    have = existing_relations(con) if relations is None else relations
    base = {
        "run_id": run_id,
        "checked_at": now,
        "check_id": check.check_id,
        "layer": check.layer,
        "severity": check.severity,
        "description": check.description,
    }
    missing = [t for t in check.requires if t not in have]
    if missing:
        if check.on_missing == "skip":
            return CheckResult(
                **base,  # type: ignore[arg-type]
                status="skipped",
                passed=None,
                observed=f"skipped: {', '.join(missing)} missing",
                failing_rows=0,
            )
        return CheckResult(
            **base,  # type: ignore[arg-type]
            status="failed",
            passed=False,
            observed=f"missing table: {', '.join(missing)}",
            failing_rows=1,
            sample=missing,
        )
    t0 = time.perf_counter()
    try:
        observed, failing, sample = con.execute(check.query(_now_sql(now))).fetchone()  # type: ignore[misc]
    except duckdb.Error as exc:
        return CheckResult(
            **base,  # type: ignore[arg-type]
            status="error",
            passed=False,
            observed=f"error: {str(exc).splitlines()[0][:300]}",
            failing_rows=0,
            duration_s=time.perf_counter() - t0,
        )
    failing = int(failing or 0)
    return CheckResult(
        **base,  # type: ignore[arg-type]
        status="passed" if failing == 0 else "failed",
        passed=failing == 0,
        observed="" if observed is None else str(observed),
        failing_rows=failing,
        sample=[str(s) for s in (sample or [])],
        duration_s=round(time.perf_counter() - t0, 4),
    )


def run_checks(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    layers: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    profile: str = "greenstream",
    checks: Sequence[Check] | None = None,
) -> list[CheckResult]:
    """Evaluate the registry (optionally only `layers`) on `con` (a `Context.sql()`
    connection: every lake table and the warehouse).

    `now` (UTC; default: the current time) is the reference for freshness and future-ts
    checks. Grade bounds and the quarantine threshold come from the VEE `profile`.
    """
    now = now or dt.datetime.now(dt.UTC)
    if checks is None:
        prof = get_profile(profile)
        checks = (
            CHECKS
            if profile == "greenstream"
            else build_checks(prof.grades, prof.quarantine_below, prof.ml_min_score)
        )
    wanted = set(layers) if layers is not None else set(LAYERS)
    unknown = wanted - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layer(s) {sorted(unknown)} (known: {', '.join(LAYERS)})")
    have = existing_relations(con)
    return [evaluate(con, c, run_id, now, have) for c in checks if c.layer in wanted]


def store_results(lake: Lake, results: Sequence[CheckResult]) -> int:
    """Append `results` to `ops.quality_results` (one Delta commit); returns rows written.

    Re-storing the same (run_id, check_id) pairs writes nothing (MERGE insert-new).
    """
    if not results:
        lake.ensure(OPS_QUALITY_RESULTS)
        return 0
    data = pa.Table.from_pylist([r.to_row() for r in results])
    return lake.insert_new(OPS_QUALITY_RESULTS, data)


def gate(results: Sequence[CheckResult], layer: str) -> list[CheckResult]:
    """The error-severity failures of `layer` (empty: the layer may be promoted)."""
    return [r for r in results if r.layer == layer and r.severity == "error" and r.failed]


def pass_rates(results: Sequence[CheckResult]) -> dict[str, dict[str, float | int]]:
    """Per layer: passed, failed, skipped, total evaluated and pass ratio (0..1)."""
    out: dict[str, dict[str, float | int]] = {}
    for layer in LAYERS:
        rs = [r for r in results if r.layer == layer]
        if not rs:
            continue
        passed = sum(1 for r in rs if r.passed is True)
        failed = sum(1 for r in rs if r.passed is False)
        evaluated = passed + failed
        out[layer] = {
            "passed": passed,
            "failed": failed,
            "skipped": len(rs) - evaluated,
            "total": len(rs),
            "pass_ratio": round(passed / evaluated, 4) if evaluated else 1.0,
        }
    return out


def enforce_gate(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    run_id: str,
    layer: str,
    force: bool = False,
    now: dt.datetime | None = None,
    profile: str = "greenstream",
) -> list[CheckResult]:
    """Run and store the checks of `layer`; raise `QualityGateError` on error failures.

    With `force` the failures are only returned (and stored), so the caller can log them
    and promote anyway.
    """
    results = run_checks(con, run_id, layers=[layer], now=now, profile=profile)
    store_results(lake, results)
    failures = gate(results, layer)
    if failures and not force:
        raise QualityGateError(failures, layer)
    return failures
