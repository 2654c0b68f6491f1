"""`gold.forecasts` → `dw.fact_forecasts` (the seed's `ml_predictions`), DuckDB or PostgreSQL.

The forecasts of the given issue dates (UTC date of `issued_at`) and models replace what
the warehouse holds for them, in one transaction; household and prosumer series get the
`user_sk` of the user's current version. The row count is checked like the energy facts.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from wattlake.errors import PipelineError
from wattlake.lake import catalog as cat
from wattlake.warehouse import ddl
from wattlake.warehouse.targets import Target

COLUMNS = [
    "model",
    "model_version",
    "target",
    "level",
    "key",
    "issued_at",
    "date",
    "ts",
    "lead_hours",
    "p10",
    "p50",
    "p90",
    "unit",
]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def load_forecasts(t: Target, dates: list[dt.date], models: list[str]) -> int:
    """Replace the facts of `models` issued on `dates`; returns the rows loaded."""
    if not dates or not models:
        return 0
    t.begin()
    try:
        t.create_schema()
        t.stage("stage_forecasts", cat.GOLD_FORECASTS, COLUMNS, sorted(set(dates)))
        in_models = ", ".join(_quote(m) for m in models)
        keys = "SELECT DISTINCT issued_at FROM stage_forecasts"
        t.execute(
            f"DELETE FROM dw.fact_forecasts WHERE model IN ({in_models}) AND issued_at IN ({keys})"
        )
        t.execute(
            f"""
            INSERT INTO dw.fact_forecasts ({", ".join(ddl.columns("fact_forecasts"))})
            SELECT f.model, f.model_version, f.target, f.level, f.key, u.user_sk,
                   {t.time_sk("f.ts")}, f.issued_at, f.ts, f.lead_hours, f.p10, f.p50, f.p90,
                   f.unit
            FROM stage_forecasts f
            LEFT JOIN dw.dim_users u
              ON u.user_id = f.key AND u.is_current AND f.level IN ('household', 'prosumer')
            WHERE f.model IN ({in_models})
            """
        )
        expected = int(
            t.scalar(f"SELECT count(*) FROM stage_forecasts WHERE model IN ({in_models})")
        )
        loaded = int(
            t.scalar(
                f"SELECT count(*) FROM dw.fact_forecasts WHERE model IN ({in_models}) "
                f"AND issued_at IN ({keys})"
            )
        )
        if loaded != expected:
            raise PipelineError(
                f"forecast load lost rows: {expected} gold forecasts, {loaded} facts loaded"
            )
        t.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            t.rollback()
        raise
    return loaded
