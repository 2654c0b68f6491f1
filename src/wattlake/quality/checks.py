"""The data-quality check registry: one SQL query per check, evaluated inside DuckDB.

Each `Check` is a small declarative record. Its SQL selects the **violating rows** of one
rule as a single key column `k` (text, e.g. `meter_id|ts`); the runner wraps it as

    WITH v AS MATERIALIZED (<violations>)
    SELECT <observed>, count(*) FROM v, first 10 keys of v

so every check is one query returning one row: (observed value, failing row count, up to 10
sample failing keys). A check passes when it has no failing rows. The queries run on the
connection of `wattlake.query.connect(home, warehouse)`: DuckDB reads the Delta tables and the
warehouse (DuckDB file, or PostgreSQL through `postgres_scanner`) in place, so no table is
pulled into Python — only the one-row answer.

Why an in-house runner rather than Great Expectations or pandera
-----------------------------------------------------------------
- Great Expectations evaluates through its own pandas, Spark or SQLAlchemy datasources. Our
  tables are Delta tables read by DuckDB's `delta_scan` views on an in-memory connection plus
  an attached warehouse; GE cannot reuse that connection (it needs a SQLAlchemy URL, which
  cannot see our views) and would fall back to pandas — which the design forbids. It also
  brings ~40 transitive dependencies (SQLAlchemy, Jinja, marshmallow, altair, ...) and a
  project-directory layout (`great_expectations.yml`, stores, Data Docs sites).
- pandera (0.35, `pypi.tsv`) has an Ibis backend, but it validates column-level schemas and
  element-wise checks of one table; our important rules are cross-table (row accounting,
  daily = Σ hourly, facts ↔ gold, SCD2 validity) and need sample failing *keys*, which its
  error reports do not give without materialising the failure cases.
- A check here is ~5 lines of SQL, testable by corrupting a table, and the results land in
  our own Delta table `ops.quality_results` and an HTML + JSON report (`report.py`).

Units: kWh per interval (silver), kWh per hour/day (gold), °C, quality points 0–100,
freshness in hours. `{now}` in a query is replaced by the run's reference time (TIMESTAMPTZ).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from wattlake.lake import catalog as cat
from wattlake.lake.spec import TableSpec
from wattlake.transforms.vee.profile import Grades

Layer = Literal["bronze", "silver", "gold", "warehouse"]
Severity = Literal["error", "warn"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold", "warehouse")

# Thresholds (documented in the check descriptions).
FRESHNESS_HOURS = 24.0
KWH_PER_INTERVAL_MAX = 50.0
TEMPERATURE_MIN_C, TEMPERATURE_MAX_C = -20.0, 45.0
# Mean daily consumption per household, kWh/day. UK domestic consumption (LCL/Ofgem TDCV)
# is ~8–12 kWh/day; below 1 kWh/day is a vacant home or a dead meter, above 50 kWh/day is
# beyond an all-electric house with heat pump and EV (or a commercial meter / unit error).
# The seed's "1.0–10.0 kWh" is a per-reading mean over 30-min data in kWh, i.e. the upper
# bound 10 kWh per interval is looser than our 0..50 per interval range check — so we bound
# the daily mean instead. Computed as mean kWh per interval × intervals per day, which is
# robust to gaps and partial first/last days.
DAILY_KWH_MIN, DAILY_KWH_MAX = 1.0, 50.0
BALANCE_TOLERANCE_KWH = 1e-3  # 4-dp rounding of up to ~4 terms per row
SUM_TOLERANCE_KWH = 1e-2  # daily/monthly sums of rounded hourly values


@dataclass(frozen=True)
class Check:
    """One data-quality rule.

    `sql` selects the violating rows with one text column `k` (the key shown as a sample).
    `observed` is a scalar SQL expression for the observed value (may reference `v`, the
    violations); the default is the violation count. `requires` lists the tables the query
    reads: when one is missing the check is `skipped` (`on_missing="skip"`) or fails
    (`on_missing="fail"`).
    """

    check_id: str
    layer: Layer
    severity: Severity
    description: str
    sql: str
    requires: tuple[str, ...]
    observed: str = "(SELECT count(*) FROM v)"
    on_missing: Literal["skip", "fail"] = "skip"
    tags: tuple[str, ...] = field(default_factory=tuple)

    def query(self, now_sql: str) -> str:
        """The one-row query: `observed` (text), `failing_rows`, `sample` (≤ 10 keys)."""
        body = self.sql.replace("{now}", now_sql)
        obs = self.observed.replace("{now}", now_sql)
        return (
            f"WITH v AS MATERIALIZED ({body})\n"
            f"SELECT CAST(({obs}) AS VARCHAR) AS observed,\n"
            f"       (SELECT count(*) FROM v) AS failing_rows,\n"
            f"       (SELECT coalesce(list(k), []) FROM (SELECT CAST(k AS VARCHAR) AS k FROM v\n"
            f"        ORDER BY 1 NULLS FIRST LIMIT 10)) AS sample"
        )


def _schema_check(spec: TableSpec, severity: Severity = "error") -> Check:
    """Expected columns (from the lake's TableSpec) present in the table."""
    cols = ", ".join(f"'{c}'" for c in spec.column_names)
    return Check(
        f"{spec.qualified}.schema",
        spec.schema,  # type: ignore[arg-type]
        severity,
        f"every expected column of {spec.qualified} is present ({len(spec.column_names)})",
        f"""SELECT c AS k FROM (SELECT unnest([{cols}]) AS c) e
            WHERE c NOT IN (SELECT column_name FROM information_schema.columns
                            WHERE table_catalog = current_database()
                              AND table_schema = '{spec.schema}' AND table_name = '{spec.name}')""",
        (spec.qualified,),
        observed=f"(SELECT count(*) FROM information_schema.columns WHERE table_catalog = "
        f"current_database() AND table_schema = '{spec.schema}' AND table_name = '{spec.name}')"
        " || ' columns'",
        on_missing="fail",
    )


def _non_empty(qualified: str, severity: Severity, layer: Layer = "bronze") -> Check:
    return Check(
        f"{qualified}.non_empty",
        layer,
        severity,
        f"{qualified} has at least one row",
        f"SELECT '{qualified}' AS k WHERE NOT EXISTS (SELECT 1 FROM {qualified})",
        (qualified,),
        observed=f"(SELECT count(*) FROM {qualified}) || ' rows'",
        on_missing="fail",
    )


def _unique(check_id: str, layer: Layer, table: str, keys: list[str], what: str) -> Check:
    key = " || '|' || ".join(f"coalesce(CAST({c} AS VARCHAR), 'NULL')" for c in keys)
    return Check(
        check_id,
        layer,
        "error",
        f"{what}: ({', '.join(keys)}) is unique in {table}",
        f"SELECT {key} AS k FROM {table} GROUP BY ALL HAVING count(*) > 1",
        (table,),
        observed="(SELECT count(*) FROM v) || ' duplicated keys'",
    )


def _grade_case(g: Grades) -> str:
    return (
        f"CASE WHEN quality_score >= {g.a} THEN 'A' WHEN quality_score >= {g.b} THEN 'B' "
        f"WHEN quality_score >= {g.c} THEN 'C' ELSE 'F' END"
    )


def build_checks(
    grades: Grades | None = None, quarantine_below: int = 70, ml_min_score: int = 90
) -> list[Check]:
    """Every check, in layer order. `grades`, `quarantine_below` and `ml_min_score` come
    from the VEE profile."""
    g = grades or Grades()
    fh = FRESHNESS_HOURS
    flow = "gold.energy_flow_hourly"
    measures = (
        "production_kwh",
        "consumption_kwh",
        "self_consumption_kwh",
        "surplus_kwh",
        "grid_import_kwh",
        "grid_export_kwh",
    )
    checks: list[Check] = [
        # ---------------------------------------------------------------- bronze
        _schema_check(cat.BRONZE_READINGS),
        _schema_check(cat.BRONZE_USERS, "warn"),
        _non_empty("bronze.meter_readings", "error"),
        _non_empty("bronze.user_profiles", "warn"),
        Check(
            "bronze.manifest.freshness",
            "bronze",
            "warn",
            f"every file source (format) ingested less than {fh:g} h before `now`",
            f"""SELECT format || ' last ' || strftime(max(ingested_at), '%Y-%m-%d %H:%M') AS k
                FROM ops.manifest GROUP BY format
                HAVING max(ingested_at) < {{now}} - INTERVAL {int(fh * 3600)} SECOND""",
            ("ops.manifest",),
            observed="(SELECT round(max(epoch({now}) - epoch(ingested_at)) / 3600.0, 2) "
            "FROM (SELECT max(ingested_at) AS ingested_at FROM ops.manifest GROUP BY format))"
            " || ' h (stalest source)'",
            on_missing="fail",
        ),
        Check(
            "bronze.api_responses.freshness",
            "bronze",
            "warn",
            f"every API source fetched less than {fh:g} h before `now`",
            f"""SELECT source || ' last ' || strftime(max(fetched_at), '%Y-%m-%d %H:%M') AS k
                FROM bronze.api_responses GROUP BY source
                HAVING max(fetched_at) < {{now}} - INTERVAL {int(fh * 3600)} SECOND""",
            ("bronze.api_responses",),
        ),
        Check(
            "bronze.meter_readings.lineage_not_null",
            "bronze",
            "error",
            "lineage columns _batch_id, _record_id, _ingested_at, _source_file are set",
            """SELECT coalesce(_record_id, _source_file || ':' || _row_number) AS k
               FROM bronze.meter_readings
               WHERE _batch_id IS NULL OR _record_id IS NULL OR _ingested_at IS NULL
                  OR _source_file IS NULL""",
            ("bronze.meter_readings",),
        ),
        _unique(
            "bronze.meter_readings.unique_record_id",
            "bronze",
            "bronze.meter_readings",
            ["_record_id"],
            "exact re-sends are landed once",
        ),
        # ---------------------------------------------------------------- silver
        Check(
            "silver.readings.not_null_keys",
            "silver",
            "error",
            "meter_id, ts and kwh are never NULL in silver.meter_readings",
            """SELECT coalesce(meter_id, 'NULL') || '|' || coalesce(CAST(ts AS VARCHAR), 'NULL')
                      AS k
               FROM silver.meter_readings
               WHERE meter_id IS NULL OR ts IS NULL OR kwh IS NULL""",
            ("silver.meter_readings",),
        ),
        _unique(
            "silver.readings.unique_meter_ts",
            "silver",
            "silver.meter_readings",
            ["meter_id", "ts"],
            "one reading per meter and interval",
        ),
        Check(
            "silver.readings.kwh_range",
            "silver",
            "error",
            f"energy per interval within 0..{KWH_PER_INTERVAL_MAX:g} kWh",
            f"""SELECT meter_id || '|' || CAST(ts AS VARCHAR) || '=' || CAST(kwh AS VARCHAR) AS k
                FROM silver.meter_readings
                WHERE kwh < 0 OR kwh > {KWH_PER_INTERVAL_MAX}""",
            ("silver.meter_readings",),
            observed="(SELECT 'min=' || min(kwh) || ' max=' || max(kwh) || ' kWh' "
            "FROM silver.meter_readings)",
        ),
        Check(
            "silver.readings.kw_consistent",
            "silver",
            "error",
            "kw = kwh × 60 / interval_minutes (± 0.001 kW, 4-dp rounding)",
            """SELECT meter_id || '|' || CAST(ts AS VARCHAR) AS k FROM silver.meter_readings
               WHERE abs(kw - kwh * 60.0 / interval_minutes) > 0.001""",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.score_range",
            "silver",
            "error",
            "quality_score within 0..100 points",
            """SELECT meter_id || '|' || CAST(ts AS VARCHAR) || '=' || CAST(quality_score AS
                      VARCHAR) AS k
               FROM silver.meter_readings
               WHERE quality_score IS NULL OR quality_score < 0 OR quality_score > 100""",
            ("silver.meter_readings",),
            observed="(SELECT 'min=' || min(quality_score) || ' max=' || max(quality_score) "
            "FROM silver.meter_readings)",
        ),
        Check(
            "silver.readings.grade_consistent",
            "silver",
            "error",
            f"quality_grade matches the score (A ≥ {g.a}, B ≥ {g.b}, C ≥ {g.c}, F below)",
            f"""SELECT meter_id || '|' || CAST(ts AS VARCHAR) || ' ' || quality_score || '→'
                       || coalesce(quality_grade, 'NULL') AS k
                FROM silver.meter_readings
                WHERE quality_grade IS DISTINCT FROM ({_grade_case(g)})""",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.tier_consistent",
            "silver",
            "error",
            f"quality_tier matches the score (premium ≥ {ml_min_score}, standard ≥ "
            f"{quarantine_below}, below_threshold otherwise)",
            f"""SELECT meter_id || '|' || CAST(ts AS VARCHAR) || ' ' || quality_score || '→'
                       || coalesce(quality_tier, 'NULL') AS k
                FROM silver.meter_readings
                WHERE quality_tier IS DISTINCT FROM (
                    CASE WHEN quality_score >= {ml_min_score} THEN 'premium'
                         WHEN quality_score >= {quarantine_below} THEN 'standard'
                         ELSE 'below_threshold' END)""",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.score_above_quarantine",
            "silver",
            "warn",
            f"accepted rows score ≥ {quarantine_below} (lower scores belong in quarantine, "
            "unless released by an operator)",
            f"""SELECT meter_id || '|' || CAST(ts AS VARCHAR) AS k FROM silver.meter_readings s
                WHERE quality_score < {quarantine_below} AND NOT is_estimated
                  AND provenance <> 'edited'""",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.estimated_provenance",
            "silver",
            "error",
            "estimated rows have provenance 'estimated' and no bronze record; measured rows "
            "have a bronze record",
            """SELECT meter_id || '|' || CAST(ts AS VARCHAR) AS k FROM silver.meter_readings
               WHERE (is_estimated AND (_record_id IS NOT NULL
                                        OR provenance IS DISTINCT FROM 'estimated'))
                  OR (NOT is_estimated AND _record_id IS NULL)""",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.no_future_ts",
            "silver",
            "error",
            "no accepted interval starts after `now`",
            "SELECT meter_id || '|' || CAST(ts AS VARCHAR) AS k FROM silver.meter_readings "
            "WHERE ts > {now}",
            ("silver.meter_readings",),
        ),
        Check(
            "silver.readings.mean_daily_kwh",
            "silver",
            "warn",
            f"mean daily consumption per household within {DAILY_KWH_MIN:g}..{DAILY_KWH_MAX:g}"
            " kWh/day (mean kWh per interval × intervals per day; PV meters excluded)",
            f"""SELECT meter_id || '=' || CAST(round(daily, 3) AS VARCHAR) AS k FROM (
                  SELECT meter_id, avg(kwh * 1440.0 / interval_minutes) AS daily
                  FROM silver.meter_readings
                  WHERE meter_id NOT IN (SELECT pv_meter_id FROM silver.user_profiles
                                         WHERE pv_meter_id IS NOT NULL)
                  GROUP BY meter_id)
                WHERE daily < {DAILY_KWH_MIN} OR daily > {DAILY_KWH_MAX}""",
            ("silver.meter_readings", "silver.user_profiles"),
            observed="(SELECT round(avg(kwh * 1440.0 / interval_minutes), 3) || ' kWh/day' "
            "FROM silver.meter_readings WHERE meter_id NOT IN (SELECT pv_meter_id "
            "FROM silver.user_profiles WHERE pv_meter_id IS NOT NULL))",
        ),
        Check(
            "silver.row_accounting",
            "silver",
            "error",
            "every bronze reading is in exactly one of silver (non-estimated) or quarantine: "
            "bronze rows = silver non-estimated + quarantine",
            """SELECT 'missing:' || b._record_id AS k FROM bronze.meter_readings b
               WHERE b._record_id NOT IN (
                   SELECT _record_id FROM silver.meter_readings WHERE NOT is_estimated
                   UNION ALL SELECT _record_id FROM silver.quarantine)
               UNION ALL
               SELECT 'both:' || s._record_id FROM silver.meter_readings s
               JOIN silver.quarantine q USING (_record_id) WHERE NOT s.is_estimated
               UNION ALL
               SELECT 'unknown:' || r FROM (
                   SELECT _record_id AS r FROM silver.meter_readings WHERE NOT is_estimated
                   UNION ALL SELECT _record_id FROM silver.quarantine)
               WHERE r NOT IN (SELECT _record_id FROM bronze.meter_readings)""",
            ("bronze.meter_readings", "silver.meter_readings", "silver.quarantine"),
            observed="(SELECT 'bronze=' || (SELECT count(*) FROM bronze.meter_readings) || "
            "' silver=' || (SELECT count(*) FROM silver.meter_readings WHERE NOT is_estimated)"
            " || ' quarantine=' || (SELECT count(*) FROM silver.quarantine))",
        ),
        Check(
            "silver.quarantine.has_rules",
            "silver",
            "error",
            "every quarantine row names the rule ids that sent it there",
            """SELECT _record_id AS k FROM silver.quarantine
               WHERE rules IS NULL OR trim(rules) = ''""",
            ("silver.quarantine",),
        ),
        _unique(
            "silver.quarantine.unique_record_id",
            "silver",
            "silver.quarantine",
            ["_record_id"],
            "a bronze row is quarantined once",
        ),
        _unique(
            "silver.user_profiles.unique_version",
            "silver",
            "silver.user_profiles",
            ["user_id", "effective_date"],
            "one profile version per user and date",
        ),
        Check(
            "silver.weather.temperature_range",
            "silver",
            "warn",
            f"air temperature within {TEMPERATURE_MIN_C:g}..{TEMPERATURE_MAX_C:g} °C "
            "(passes when silver.weather is empty)",
            f"""SELECT latitude || ',' || longitude || '|' || CAST(ts AS VARCHAR) || '='
                       || temperature_c AS k
                FROM silver.weather
                WHERE temperature_c < {TEMPERATURE_MIN_C} OR temperature_c > {TEMPERATURE_MAX_C}""",
            ("silver.weather",),
            observed="(SELECT 'min=' || coalesce(CAST(min(temperature_c) AS VARCHAR), '-') || "
            "' max=' || coalesce(CAST(max(temperature_c) AS VARCHAR), '-') || ' °C' "
            "FROM silver.weather)",
        ),
        _unique(
            "silver.weather.unique_location_ts",
            "silver",
            "silver.weather",
            ["latitude", "longitude", "ts"],
            "one weather row per location and hour",
        ),
        _unique(
            "silver.prices.unique_zone_ts",
            "silver",
            "silver.prices",
            ["zone", "ts"],
            "one price per zone and interval",
        ),
        # ---------------------------------------------------------------- gold
        Check(
            "gold.energy_flow_hourly.balance_identity",
            "gold",
            "error",
            "production + grid_import + p2p_import = consumption + grid_export + p2p_export "
            f"per row (± {BALANCE_TOLERANCE_KWH:g} kWh)",
            f"""SELECT user_id || '|' || CAST(hour_ts AS VARCHAR) AS k FROM {flow}
                WHERE abs(production_kwh + grid_import_kwh + p2p_import_kwh - consumption_kwh
                          - grid_export_kwh - p2p_export_kwh) > {BALANCE_TOLERANCE_KWH}""",
            (flow,),
        ),
        Check(
            "gold.energy_flow_hourly.non_negative",
            "gold",
            "error",
            "every energy measure (production, consumption, self, surplus, grid) ≥ 0 kWh",
            f"""SELECT user_id || '|' || CAST(hour_ts AS VARCHAR) AS k FROM {flow}
                WHERE {" OR ".join(f"{m} < 0" for m in measures)}""",
            (flow,),
        ),
        Check(
            "gold.energy_flow_hourly.self_consumption_bounds",
            "gold",
            "error",
            "self_consumption ≤ min(production, consumption) and grid_export + p2p_export = "
            f"surplus (± {BALANCE_TOLERANCE_KWH:g} kWh)",
            f"""SELECT user_id || '|' || CAST(hour_ts AS VARCHAR) AS k FROM {flow}
                WHERE self_consumption_kwh > least(production_kwh, consumption_kwh)
                                             + {BALANCE_TOLERANCE_KWH}
                   OR abs(grid_export_kwh + p2p_export_kwh - surplus_kwh)
                      > {BALANCE_TOLERANCE_KWH}""",
            (flow,),
        ),
        _unique(
            "gold.energy_flow_hourly.unique_user_hour",
            "gold",
            flow,
            ["user_id", "hour_ts"],
            "one flow row per user and hour",
        ),
        Check(
            "gold.daily_energy_balance.equals_hourly_sum",
            "gold",
            "error",
            f"daily balance = Σ hourly flow per user and date (± {SUM_TOLERANCE_KWH:g} kWh), "
            "no day missing on either side",
            f"""WITH h AS (SELECT user_id, date, {", ".join(f"sum({m}) AS {m}" for m in measures)}
                           FROM {flow} GROUP BY ALL)
                SELECT coalesce(d.user_id, h.user_id) || '|'
                       || CAST(coalesce(d.date, h.date) AS VARCHAR) AS k
                FROM gold.daily_energy_balance d FULL JOIN h
                  ON d.user_id = h.user_id AND d.date = h.date
                WHERE d.user_id IS NULL OR h.user_id IS NULL OR {
                " OR ".join(f"abs(d.{m} - h.{m}) > {SUM_TOLERANCE_KWH}" for m in measures)
            }""",
            ("gold.daily_energy_balance", flow),
        ),
        Check(
            "gold.energy_flow_hourly.user_known",
            "gold",
            "error",
            "every gold user_id has a profile in silver.user_profiles or is a silver meter",
            f"""SELECT DISTINCT user_id AS k FROM {flow}
                WHERE user_id NOT IN (SELECT user_id FROM silver.user_profiles)
                  AND user_id NOT IN (SELECT DISTINCT meter_id FROM silver.meter_readings)""",
            (flow, "silver.user_profiles", "silver.meter_readings"),
        ),
        Check(
            "gold.hourly_meter_stats.equals_silver_sum",
            "gold",
            "error",
            f"hourly kWh per meter = Σ silver kWh of the hour (± {SUM_TOLERANCE_KWH:g} kWh)",
            f"""WITH s AS (SELECT meter_id, date_trunc('hour', ts) AS hour_ts, sum(kwh) AS kwh,
                                  count(*) AS n
                           FROM silver.meter_readings GROUP BY ALL)
                SELECT coalesce(g.meter_id, s.meter_id) || '|'
                       || CAST(coalesce(g.hour_ts, s.hour_ts) AS VARCHAR) AS k
                FROM gold.hourly_meter_stats g FULL JOIN s
                  ON g.meter_id = s.meter_id AND g.hour_ts = s.hour_ts
                WHERE g.meter_id IS NULL OR s.meter_id IS NULL
                   OR abs(g.kwh - s.kwh) > {SUM_TOLERANCE_KWH} OR g.readings <> s.n""",
            ("gold.hourly_meter_stats", "silver.meter_readings"),
        ),
        Check(
            "gold.peak_hours.max_three_per_day",
            "gold",
            "error",
            "gold.peak_hours has at most 3 rows per date, ranks 1..3 unique",
            """SELECT CAST(date AS VARCHAR) || ' n=' || count(*) AS k FROM gold.peak_hours
               GROUP BY date
               HAVING count(*) > 3 OR count(DISTINCT peak_rank) <> count(*)
                   OR max(peak_rank) > 3 OR min(peak_rank) < 1""",
            ("gold.peak_hours",),
            observed="(SELECT coalesce(max(n), 0) || ' max rows per date' FROM "
            "(SELECT count(*) AS n FROM gold.peak_hours GROUP BY date))",
        ),
        Check(
            "gold.readings_enriched.rows_match_silver",
            "gold",
            "error",
            "enrichment drops no reading: gold.readings_enriched rows = silver.meter_readings "
            "rows per date",
            """WITH e AS (SELECT date, count(*) AS n FROM gold.readings_enriched GROUP BY ALL),
                    s AS (SELECT date, count(*) AS n FROM silver.meter_readings GROUP BY ALL)
               SELECT CAST(coalesce(e.date, s.date) AS VARCHAR) || ' enriched='
                      || coalesce(e.n, 0) || ' silver=' || coalesce(s.n, 0) AS k
               FROM e FULL JOIN s ON e.date = s.date
               WHERE e.n IS DISTINCT FROM s.n""",
            ("gold.readings_enriched", "silver.meter_readings"),
        ),
        Check(
            "gold.pv_modelled_hourly.range",
            "gold",
            "error",
            "modelled PV per hour is ≥ 0 and unique per (user, hour)",
            """SELECT user_id || '|' || CAST(hour_ts AS VARCHAR) AS k
               FROM gold.pv_modelled_hourly GROUP BY user_id, hour_ts
               HAVING count(*) > 1 OR min(modelled_kwh) < 0""",
            ("gold.pv_modelled_hourly",),
        ),
        Check(
            "gold.p2p_user_kpis_daily.equals_flow",
            "gold",
            "error",
            "user KPIs: production, consumption, P2P import/export per user-day = Σ gold "
            f"hourly flow, and every user-day of the flow has a KPI row (± {SUM_TOLERANCE_KWH:g}"
            " kWh)",
            f"""WITH f AS (SELECT user_id, date, sum(production_kwh) AS p,
                                  sum(consumption_kwh) AS c, sum(p2p_import_kwh) AS pi,
                                  sum(p2p_export_kwh) AS pe
                           FROM {flow} GROUP BY ALL)
                SELECT coalesce(k.user_id, f.user_id) || '|'
                       || CAST(coalesce(k.date, f.date) AS VARCHAR) AS k
                FROM gold.p2p_user_kpis_daily k FULL JOIN f
                  ON k.user_id = f.user_id AND k.date = f.date
                WHERE k.user_id IS NULL OR f.user_id IS NULL
                   OR abs(k.production_kwh - f.p) > {SUM_TOLERANCE_KWH}
                   OR abs(k.consumption_kwh - f.c) > {SUM_TOLERANCE_KWH}
                   OR abs(k.p2p_import_kwh - f.pi) > {SUM_TOLERANCE_KWH}
                   OR abs(k.p2p_export_kwh - f.pe) > {SUM_TOLERANCE_KWH}""",
            ("gold.p2p_user_kpis_daily", flow),
        ),
        Check(
            "gold.p2p_community_kpis_daily.equals_users",
            "gold",
            "error",
            "community KPIs = Σ their members' user KPIs per day (members, kWh, EUR), and "
            "P2P kWh bought = sold inside each community-day",
            f"""WITH u AS (SELECT community_id, date, count(*) AS n,
                                  sum(consumption_kwh) AS c, sum(revenue_eur) AS eur,
                                  sum(p2p_import_kwh) AS pi
                           FROM gold.p2p_user_kpis_daily
                           WHERE community_id IS NOT NULL GROUP BY ALL)
                SELECT CAST(coalesce(c.community_id, u.community_id) AS VARCHAR) || '|'
                       || CAST(coalesce(c.date, u.date) AS VARCHAR) AS k
                FROM gold.p2p_community_kpis_daily c FULL JOIN u
                  ON c.community_id = u.community_id AND c.date = u.date
                WHERE c.date IS NULL OR u.date IS NULL OR c.members <> u.n
                   OR abs(c.consumption_kwh - u.c) > {SUM_TOLERANCE_KWH}
                   OR abs(c.revenue_eur - u.eur) > {SUM_TOLERANCE_KWH}
                   OR abs(c.p2p_import_kwh - u.pi) > {SUM_TOLERANCE_KWH}
                   OR abs(c.p2p_import_kwh - c.p2p_export_kwh) > {SUM_TOLERANCE_KWH}""",
            ("gold.p2p_community_kpis_daily", "gold.p2p_user_kpis_daily"),
        ),
        Check(
            "silver.agreements.valid",
            "silver",
            "error",
            "every agreement ends after it starts and names a known meterpoint and product",
            """SELECT a.agreement_id AS k FROM silver.agreements a
               WHERE (a.agreement_valid_to IS NOT NULL
                      AND a.agreement_valid_to <= a.agreement_valid_from)
                  OR a.meterpoint_id NOT IN (SELECT meterpoint_id FROM silver.meterpoints)
                  OR a.product_id NOT IN (SELECT product_id FROM silver.products)""",
            ("silver.agreements", "silver.meterpoints", "silver.products"),
        ),
        # ---------------------------------------------------------------- warehouse
        Check(
            "warehouse.fact_energy_flow.fk_user",
            "warehouse",
            "error",
            "every fact_energy_flow.user_sk exists in dim_users (no orphans)",
            """SELECT CAST(user_sk AS VARCHAR) || '|' || CAST(time_sk AS VARCHAR) AS k
               FROM dw.fact_energy_flow f
               WHERE NOT EXISTS (SELECT 1 FROM dw.dim_users u WHERE u.user_sk = f.user_sk)""",
            ("dw.fact_energy_flow", "dw.dim_users"),
        ),
        Check(
            "warehouse.fact_energy_flow.fk_time",
            "warehouse",
            "error",
            "every fact_energy_flow.time_sk exists in dim_time (no orphans)",
            """SELECT CAST(user_sk AS VARCHAR) || '|' || CAST(time_sk AS VARCHAR) AS k
               FROM dw.fact_energy_flow f
               WHERE NOT EXISTS (SELECT 1 FROM dw.dim_time t WHERE t.time_sk = f.time_sk)""",
            ("dw.fact_energy_flow", "dw.dim_time"),
        ),
        Check(
            "warehouse.fact_monthly_summary.fk_user",
            "warehouse",
            "error",
            "every fact_monthly_summary.user_sk exists in dim_users (no orphans)",
            """SELECT CAST(user_sk AS VARCHAR) || '|' || CAST(month_sk AS VARCHAR) AS k
               FROM dw.fact_monthly_summary f
               WHERE NOT EXISTS (SELECT 1 FROM dw.dim_users u WHERE u.user_sk = f.user_sk)""",
            ("dw.fact_monthly_summary", "dw.dim_users"),
        ),
        Check(
            "warehouse.fact_energy_transactions.fk",
            "warehouse",
            "error",
            "every transaction's seller, buyer and time exist in the dimensions",
            """SELECT seller_sk || '>' || buyer_sk || '|' || time_sk AS k
               FROM dw.fact_energy_transactions f
               WHERE f.seller_sk NOT IN (SELECT user_sk FROM dw.dim_users)
                  OR f.buyer_sk NOT IN (SELECT user_sk FROM dw.dim_users)
                  OR f.time_sk NOT IN (SELECT time_sk FROM dw.dim_time)""",
            ("dw.fact_energy_transactions", "dw.dim_users", "dw.dim_time"),
        ),
        _unique(
            "warehouse.fact_energy_flow.unique_user_time",
            "warehouse",
            "dw.fact_energy_flow",
            ["user_sk", "time_sk"],
            "one fact per user version and hour",
        ),
        Check(
            "warehouse.dim_users.one_current",
            "warehouse",
            "error",
            "SCD2: exactly one current row per user_id",
            """SELECT user_id || ' current=' || count(*) FILTER (WHERE is_current) AS k
               FROM dw.dim_users GROUP BY user_id
               HAVING count(*) FILTER (WHERE is_current) <> 1""",
            ("dw.dim_users",),
        ),
        Check(
            "warehouse.dim_users.no_overlap",
            "warehouse",
            "error",
            "SCD2: validity [effective, expiration) non-empty, versions contiguous and "
            "non-overlapping, is_current ⇔ expiration 9999-12-31",
            """SELECT user_id || '|' || CAST(effective_date AS VARCHAR) AS k FROM (
                 SELECT *, lead(effective_date) OVER (PARTITION BY user_id
                                                      ORDER BY effective_date) AS nxt
                 FROM dw.dim_users)
               WHERE effective_date >= expiration_date
                  OR (nxt IS NOT NULL AND nxt <> expiration_date)
                  OR (is_current <> (expiration_date = DATE '9999-12-31'))""",
            ("dw.dim_users",),
        ),
        Check(
            "warehouse.fact_energy_flow.version_valid",
            "warehouse",
            "error",
            "facts point at the user version valid on their date (earlier facts: first version)",
            """SELECT CAST(f.user_sk AS VARCHAR) || '|' || CAST(f.time_sk AS VARCHAR) AS k
               FROM dw.fact_energy_flow f JOIN dw.dim_users u USING (user_sk)
               JOIN dw.dim_time t USING (time_sk)
               WHERE t.date >= u.expiration_date""",
            ("dw.fact_energy_flow", "dw.dim_users", "dw.dim_time"),
        ),
        Check(
            "warehouse.fact_energy_flow.rows_match_gold",
            "warehouse",
            "error",
            "fact_energy_flow rows = gold.energy_flow_hourly rows, per (user_id, hour)",
            f"""WITH f AS (SELECT u.user_id, t.ts AS hour_ts, count(*) AS n
                           FROM dw.fact_energy_flow x JOIN dw.dim_users u USING (user_sk)
                           JOIN dw.dim_time t USING (time_sk) GROUP BY ALL),
                     g AS (SELECT user_id, CAST(hour_ts AS TIMESTAMP) AS hour_ts, count(*) AS n
                           FROM {flow} GROUP BY ALL)
                SELECT coalesce(f.user_id, g.user_id) || '|'
                       || CAST(coalesce(f.hour_ts, g.hour_ts) AS VARCHAR) AS k
                FROM f FULL JOIN g ON f.user_id = g.user_id AND f.hour_ts = g.hour_ts
                WHERE f.n IS DISTINCT FROM g.n""",
            ("dw.fact_energy_flow", "dw.dim_users", "dw.dim_time", flow),
            observed=f"'facts=' || (SELECT count(*) FROM dw.fact_energy_flow) || ' gold=' || "
            f"(SELECT count(*) FROM {flow})",
        ),
        Check(
            "warehouse.fact_monthly_summary.equals_facts",
            "warehouse",
            "error",
            "monthly production/consumption/grid = Σ hourly facts per user version and month "
            f"(± {SUM_TOLERANCE_KWH:g} kWh)",
            f"""WITH s AS (SELECT user_sk, CAST(time_sk // 10000 AS INTEGER) AS month_sk,
                                  sum(production_kwh) AS p, sum(consumption_kwh) AS c,
                                  sum(grid_import_kwh) AS gi, sum(grid_export_kwh) AS ge,
                                  sum(p2p_import_kwh) AS pi, sum(p2p_export_kwh) AS pe
                           FROM dw.fact_energy_flow GROUP BY ALL)
                SELECT CAST(coalesce(m.user_sk, s.user_sk) AS VARCHAR) || '|'
                       || CAST(coalesce(m.month_sk, s.month_sk) AS VARCHAR) AS k
                FROM dw.fact_monthly_summary m FULL JOIN s
                  ON m.user_sk = s.user_sk AND m.month_sk = s.month_sk
                WHERE m.user_sk IS NULL OR s.user_sk IS NULL
                   OR abs(m.total_production - s.p) > {SUM_TOLERANCE_KWH}
                   OR abs(m.total_consumption - s.c) > {SUM_TOLERANCE_KWH}
                   OR abs(m.total_grid_import - s.gi) > {SUM_TOLERANCE_KWH}
                   OR abs(m.total_grid_export - s.ge) > {SUM_TOLERANCE_KWH}
                   OR abs(m.total_p2p_import - s.pi) > {SUM_TOLERANCE_KWH}
                   OR abs(m.total_p2p_export - s.pe) > {SUM_TOLERANCE_KWH}""",
            ("dw.fact_monthly_summary", "dw.fact_energy_flow"),
        ),
        Check(
            "warehouse.fact_monthly_summary.p2p_revenue",
            "warehouse",
            "error",
            "monthly P2P revenue = Σ the user version's sales in fact_energy_transactions "
            "(± 0.01 EUR)",
            """WITH s AS (SELECT seller_sk AS user_sk,
                                 CAST(time_sk // 10000 AS INTEGER) AS month_sk,
                                 sum(transaction_amount_eur) AS eur
                          FROM dw.fact_energy_transactions GROUP BY ALL)
               SELECT CAST(m.user_sk AS VARCHAR) || '|' || CAST(m.month_sk AS VARCHAR) AS k
               FROM dw.fact_monthly_summary m LEFT JOIN s
                 ON m.user_sk = s.user_sk AND m.month_sk = s.month_sk
               WHERE abs(m.total_p2p_revenue - coalesce(s.eur, 0)) > 0.01
                  OR m.total_revenue < m.total_p2p_revenue - 0.01""",
            ("dw.fact_monthly_summary", "dw.fact_energy_transactions"),
        ),
        Check(
            "warehouse.fact_energy_flow.fk_weather_price",
            "warehouse",
            "error",
            "every non-null fact_energy_flow.weather_sk / price_sk exists in dim_weather / "
            "dim_prices, for the fact's hour",
            """SELECT CAST(f.user_sk AS VARCHAR) || '|' || CAST(f.time_sk AS VARCHAR) AS k
               FROM dw.fact_energy_flow f
               LEFT JOIN dw.dim_weather w ON w.weather_sk = f.weather_sk
               LEFT JOIN dw.dim_prices p ON p.price_sk = f.price_sk
               WHERE (f.weather_sk IS NOT NULL AND w.time_sk IS DISTINCT FROM f.time_sk)
                  OR (f.price_sk IS NOT NULL AND p.time_sk IS DISTINCT FROM f.time_sk)""",
            ("dw.fact_energy_flow", "dw.dim_weather", "dw.dim_prices"),
        ),
        Check(
            "warehouse.fact_energy_flow.balance_identity",
            "warehouse",
            "error",
            "production + grid import + p2p import = consumption + grid export + p2p export "
            f"per fact row (± {BALANCE_TOLERANCE_KWH:g} kWh)",
            f"""SELECT CAST(user_sk AS VARCHAR) || '|' || CAST(time_sk AS VARCHAR) AS k
                FROM dw.fact_energy_flow
                WHERE abs(production_kwh + grid_import_kwh + p2p_import_kwh - consumption_kwh
                          - grid_export_kwh - p2p_export_kwh) > {BALANCE_TOLERANCE_KWH}""",
            ("dw.fact_energy_flow",),
        ),
        Check(
            "warehouse.fact_energy_flow.gold_totals",
            "warehouse",
            "error",
            f"Σ fact consumption and production = Σ gold hourly flow (± {SUM_TOLERANCE_KWH:g} kWh)",
            f"""SELECT 'totals' AS k FROM
                  (SELECT sum(consumption_kwh) AS c, sum(production_kwh) AS p
                   FROM dw.fact_energy_flow) f,
                  (SELECT sum(consumption_kwh) AS c, sum(production_kwh) AS p FROM {flow}) g
                WHERE abs(coalesce(f.c, 0) - coalesce(g.c, 0)) > {SUM_TOLERANCE_KWH}
                   OR abs(coalesce(f.p, 0) - coalesce(g.p, 0)) > {SUM_TOLERANCE_KWH}""",
            ("dw.fact_energy_flow", flow),
            observed=f"'facts=' || (SELECT round(coalesce(sum(consumption_kwh), 0), 3) FROM "
            f"dw.fact_energy_flow) || ' gold=' || (SELECT round(coalesce(sum(consumption_kwh),"
            f" 0), 3) FROM {flow}) || ' kWh consumed'",
        ),
    ]
    ids = [c.check_id for c in checks]
    assert len(ids) == len(set(ids)), "duplicate check ids"
    return checks


CHECKS: tuple[Check, ...] = tuple(build_checks())


def get_check(check_id: str) -> Check:
    """The registered check with this id (KeyError if unknown)."""
    for c in CHECKS:
        if c.check_id == check_id:
            return c
    raise KeyError(check_id)
