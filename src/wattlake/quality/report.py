"""Static data-quality report: one self-contained HTML page (inline CSS + SVG) and JSON.

Content: pass ratio per layer, the trend of the pass ratio over the last N runs stored in
`ops.quality_results` (inline SVG sparkline + table), and every check — failing checks first
(errors before warnings), with their observed value and up to 10 sample failing keys.
No JavaScript; opens from disk in any browser.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from wattlake.quality.runner import CheckResult, pass_rates, run_checks
from wattlake.query import existing_relations


def _sort_key(r: CheckResult) -> tuple[int, int, str]:
    rank = 0 if r.failed else (2 if r.passed else 3)
    sev = 0 if r.severity == "error" else 1
    return (rank, sev if r.failed else 0, r.check_id)


def load_latest(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[CheckResult], list[dict[str, Any]]]:
    """The latest stored run's results and the per-run trend (oldest first, all runs)."""
    if "ops.quality_results" not in existing_relations(con):
        return [], []
    trend_rows = con.execute(
        """SELECT run_id, max(checked_at) AS checked_at,
                  count(*) FILTER (WHERE passed) AS passed,
                  count(*) FILTER (WHERE NOT passed) AS failed,
                  count(*) FILTER (WHERE passed IS NULL) AS skipped
           FROM ops.quality_results GROUP BY run_id ORDER BY checked_at, run_id"""
    ).fetchall()
    trend = [
        {
            "run_id": r[0],
            "checked_at": r[1].isoformat() if r[1] else None,
            "passed": int(r[2]),
            "failed": int(r[3]),
            "skipped": int(r[4]),
            "pass_ratio": round(r[2] / (r[2] + r[3]), 4) if (r[2] + r[3]) else 1.0,
        }
        for r in trend_rows
    ]
    if not trend:
        return [], []
    latest = trend[-1]["run_id"]
    cur = con.execute(
        """SELECT run_id, checked_at, check_id, layer, severity, description, status,
                  passed, observed, failing_rows, sample, duration_s
           FROM ops.quality_results WHERE run_id = ?""",
        [latest],
    )
    results = [
        CheckResult(
            run_id=r[0],
            checked_at=r[1],
            check_id=r[2],
            layer=r[3],
            severity=r[4],
            description=r[5] or "",
            status=r[6] or ("skipped" if r[7] is None else "passed" if r[7] else "failed"),
            passed=r[7],
            observed=r[8] or "",
            failing_rows=int(r[9] or 0),
            sample=json.loads(r[10] or "[]"),
            duration_s=float(r[11] or 0.0),
        )
        for r in cur.fetchall()
    ]
    return results, trend


def build_report(
    results: Sequence[CheckResult], trend: Sequence[dict[str, Any]], trend_runs: int = 10
) -> dict[str, Any]:
    """The report as a JSON-ready dict (failing checks first)."""
    ordered = sorted(results, key=_sort_key)
    rates = pass_rates(results)
    evaluated = sum(int(v["passed"]) + int(v["failed"]) for v in rates.values())
    passed = sum(int(v["passed"]) for v in rates.values())
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "run_id": results[0].run_id if results else None,
        "checked_at": results[0].checked_at.isoformat() if results else None,
        "summary": {
            "checks": len(results),
            "passed": passed,
            "failed": evaluated - passed,
            "skipped": len(results) - evaluated,
            "pass_ratio": round(passed / evaluated, 4) if evaluated else 1.0,
            "error_failures": sum(1 for r in results if r.failed and r.severity == "error"),
        },
        "layers": rates,
        "trend": list(trend)[-trend_runs:],
        "checks": [
            {
                "check_id": r.check_id,
                "layer": r.layer,
                "severity": r.severity,
                "status": r.status,
                "passed": r.passed,
                "observed": r.observed,
                "failing_rows": r.failing_rows,
                "sample": r.sample,
                "description": r.description,
            }
            for r in ordered
        ],
    }


def _sparkline(values: Sequence[float], width: int = 320, height: int = 60) -> str:
    """Inline SVG polyline of ratios in 0..1 (one point per run)."""
    if not values:
        return "<p class='muted'>no stored runs yet</p>"
    pad = 6
    n = len(values)
    step = (width - 2 * pad) / max(n - 1, 1)
    pts = [
        (pad + i * step, pad + (1 - max(0.0, min(1.0, v))) * (height - 2 * pad))
        for i, v in enumerate(values)
    ]
    poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' class='{'ok' if v >= 1 else 'bad'}'/>"
        for (x, y), v in zip(pts, values, strict=True)
    )
    return (
        f"<svg class='spark' role='img' aria-label='pass ratio trend' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}'>"
        f"<line x1='{pad}' y1='{pad}' x2='{width - pad}' y2='{pad}' class='grid'/>"
        f"<polyline points='{poly}' fill='none'/>{dots}</svg>"
    )


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;
color:#1d2430;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#6b7280}.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:14px}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:8px;padding:12px 16px;min-width:150px}
.card b{font-size:22px;display:block}.bar{height:8px;background:#fde2e1;border-radius:4px;
overflow:hidden;margin-top:6px}.bar i{display:block;height:100%;background:#16a34a}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e3e6ea}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{background:#f0f2f5;font-weight:600}code{font-size:12.5px}
tr.failed.error td:first-child{border-left:4px solid #dc2626}
tr.failed.warn td:first-child{border-left:4px solid #f59e0b}
tr.passed td:first-child{border-left:4px solid #16a34a}
tr.skipped td{color:#9aa1ab}tr.skipped td:first-child{border-left:4px solid #cbd1d8}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600}
.b-failed{background:#fee2e2;color:#991b1b}.b-error{background:#fee2e2;color:#991b1b}
.b-passed{background:#dcfce7;color:#166534}.b-skipped{background:#eef0f3;color:#6b7280}
.sev-warn{color:#b45309}.sev-error{color:#b91c1c}
ul.sample{margin:0;padding-left:16px;font-family:ui-monospace,monospace;font-size:12px}
svg.spark polyline{stroke:#2563eb;stroke-width:2}svg.spark .grid{stroke:#d1d5db;
stroke-dasharray:3 3}svg.spark circle.ok{fill:#16a34a}svg.spark circle.bad{fill:#dc2626}
"""


def render_html(report: dict[str, Any]) -> str:
    """The report dict as one self-contained HTML page."""
    e = html.escape
    s = report["summary"]
    cards = [
        "<div class='card'><span class='muted'>all layers</span>"
        f"<b id='overall-ratio'>{s['pass_ratio']:.0%}</b>{s['passed']}/{s['passed'] + s['failed']}"
        f" passed · {s['skipped']} skipped</div>"
    ]
    for layer, v in report["layers"].items():
        cards.append(
            f"<div class='card layer' data-layer='{e(layer)}'><span class='muted'>{e(layer)}"
            f"</span><b>{float(v['pass_ratio']):.0%}</b>{v['passed']}/"
            f"{int(v['passed']) + int(v['failed'])}"
            f" passed<div class='bar'><i style='width:{float(v['pass_ratio']) * 100:.0f}%'></i>"
            "</div></div>"
        )
    trend = report["trend"]
    trend_rows = "".join(
        f"<tr><td><code>{e(t['run_id'])}</code></td><td>{e(str(t['checked_at'] or ''))}</td>"
        f"<td>{t['passed']}</td><td>{t['failed']}</td><td>{t['pass_ratio']:.0%}</td></tr>"
        for t in reversed(trend)
    )
    rows = []
    for c in report["checks"]:
        status = c["status"]
        klass = "failed" if c["passed"] is False else ("passed" if c["passed"] else "skipped")
        sample = (
            "<ul class='sample'>" + "".join(f"<li>{e(k)}</li>" for k in c["sample"]) + "</ul>"
            if c["sample"]
            else ""
        )
        rows.append(
            f"<tr class='check {klass} {e(c['severity'])}' data-check-id='{e(c['check_id'])}'>"
            f"<td><span class='badge b-{e(status if status != 'error' else 'failed')}'>"
            f"{e(status)}</span></td>"
            f"<td><code class='check-id'>{e(c['check_id'])}</code><br>"
            f"<span class='muted'>{e(c['description'])}</span></td>"
            f"<td>{e(c['layer'])}</td><td class='sev-{e(c['severity'])}'>{e(c['severity'])}</td>"
            f"<td>{e(c['observed'])}</td><td>{c['failing_rows']:,}</td><td>{sample}</td></tr>"
        )
    title = f"wattlake data quality — {e(str(report['run_id']))}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>wattlake data quality</h1>
<div class="muted">run <code>{e(str(report["run_id"]))}</code> · checked
{e(str(report["checked_at"]))} · {s["checks"]} checks ·
<span id="error-failures">{s["error_failures"]}</span> error-severity failure(s)</div>
<div class="cards">{"".join(cards)}</div>
<h2>Trend (pass ratio, last {len(trend)} run(s))</h2>
{_sparkline([float(t["pass_ratio"]) for t in trend])}
<table class="trend"><thead><tr><th>run</th><th>checked at (UTC)</th><th>passed</th>
<th>failed</th><th>pass ratio</th></tr></thead><tbody>{trend_rows}</tbody></table>
<h2>Checks (failing first)</h2>
<table id="checks"><thead><tr><th>status</th><th>check</th><th>layer</th><th>severity</th>
<th>observed</th><th>failing rows</th><th>sample failing keys</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""


def render_report(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    results: Sequence[CheckResult] | None = None,
    trend_runs: int = 10,
) -> tuple[Path, Path]:
    """Write `quality-report.html` and `quality-report.json` to `out_dir`.

    `results` default: the latest run stored in `ops.quality_results`; when nothing is
    stored yet the checks are evaluated now (not stored) under run id `adhoc`.
    """
    stored, trend = load_latest(con)
    if results is None:
        results = stored or run_checks(con, "adhoc")
    report = build_report(results, trend, trend_runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, json_path = out / "quality-report.html", out / "quality-report.json"
    html_path.write_text(render_html(report), encoding="utf-8")
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return html_path, json_path
