"""Every injected fault class is found (recall >= 0.99) with few false positives (<= 0.5 %),
scored against the generator's ground-truth labels."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from conftest import sql_of, with_ctx
from wattlake.config import Settings, load_settings
from wattlake.generate import GenerationResult, generate
from wattlake.pipeline.ingest import ingest_files
from wattlake.pipeline.run import run_pipeline
from wattlake.query import run_sql

# label class → the rule id that must fire on the labelled reading
RULE_OF = {
    "spike": "rate_of_change_spike",
    "stuck": "fault_stuck",
    "zero": "fault_zero_run",
    "negative": "negative",
    "over_limit": "above_max",
    "future": "future_timestamp",
    "unit_w": "unit_converted",
    "missing_unit": "unit_converted",
    "clock_offset": "fault_neighbour_corr",
}
MIN_RECALL = 0.99
MAX_FPR = 0.005


@pytest.fixture(scope="module", params=["meter-csv", "lcl"])
def detected(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, GenerationResult]:
    root = tmp_path_factory.mktemp(f"faults-{request.param}")
    gen = generate(
        root / "in", 60, 14, seed=11, fmt=request.param, faults=True, start=dt.date(2024, 1, 8)
    )
    s = load_settings(home=root / "home")
    with_ctx(s, ingest_files, [gen.users_file, *gen.files])
    with_ctx(s, run_pipeline)
    return s, gen


def _labels(gen: GenerationResult) -> list[dict[str, str]]:
    assert gen.labels_file is not None
    with open(gen.labels_file) as fh:
        return list(csv.DictReader(fh))


def _rules_by_line(home: Path) -> dict[tuple[str, int], set[str]]:
    rows = run_sql(
        sql_of(home),
        """
        SELECT s._source_file, s._row_number, m.flags
        FROM silver.meter_readings m JOIN bronze.meter_readings s USING (_record_id)
        UNION ALL
        SELECT _source_file, _row_number, rules FROM silver.quarantine""",
    )[1]
    return {(Path(f).name, ln): set(filter(None, r.split(","))) for f, ln, r in rows}


def test_recall_and_false_positives_per_class(detected: tuple[Settings, GenerationResult]) -> None:
    s, gen = detected
    labels = _labels(gen)
    fired = _rules_by_line(s.home)
    labelled: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for lab in labels:
        if lab["line"]:
            labelled[lab["fault"]].add((lab["file"], int(lab["line"])))
    report: dict[str, Any] = {}
    for cls, rule in RULE_OF.items():
        if not labelled[cls]:
            continue
        hits = sum(1 for key in labelled[cls] if rule in fired.get(key, set()))
        recall = hits / len(labelled[cls])
        # Lines carrying the rule without this class's label: false positives.
        same_rule = {c for c, r in RULE_OF.items() if r == rule}
        positives = set().union(*(labelled[c] for c in same_rule))
        negatives = [k for k in fired if k not in positives]
        fp = sum(1 for k in negatives if rule in fired[k])
        fpr = fp / max(len(negatives), 1)
        report[cls] = (len(labelled[cls]), round(recall, 4), fp, round(fpr, 5))
        assert recall >= MIN_RECALL, (cls, report[cls])
        assert fpr <= MAX_FPR, (cls, report[cls])
    print(report)


def test_gaps_found(detected: tuple[Settings, GenerationResult]) -> None:
    s, gen = detected
    missing = [(lab["meter_id"], lab["timestamp"]) for lab in _labels(gen) if lab["fault"] == "gap"]
    assert missing
    estimated = {
        (m, ts.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for m, ts in run_sql(
            sql_of(s.home), "SELECT meter_id, ts FROM silver.meter_readings WHERE is_estimated"
        )[1]
    }
    gaps = run_sql(
        sql_of(s.home), "SELECT meter_id, gap_start, next_ts, gap_class FROM silver.gaps"
    )[1]
    by_meter: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for g in gaps:
        by_meter[g[0]].append(g)

    def covered(meter: str, ts: str) -> bool:
        t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return (meter, ts) in estimated or any(g[1] <= t < g[2] for g in by_meter[meter])

    found = sum(covered(m, ts) for m, ts in missing)
    assert found / len(missing) >= MIN_RECALL
    classes = {g[3] for g in gaps}
    assert {"interpolated", "missing_short", "missing_extended"} <= classes
    alerts = run_sql(
        sql_of(s.home),
        "SELECT count(*) FROM ops.alerts WHERE rule = 'missing_extended' AND severity = 'critical'",
    )[1][0][0]
    assert alerts == sum(1 for g in gaps if g[3] == "missing_extended")
