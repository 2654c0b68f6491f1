"""`wattlake run`: bronze → silver → gold → warehouse, incremental and idempotent.

Progress is kept in `ops.checkpoints`:
- step `silver` / `silver_users`: bronze batches already processed into silver;
- step `gold`: silver runs whose changes reached gold and the warehouse.

Silver recomputes only the meters present in new bronze batches, from their earliest new
interval (re-reading `lookback_hours` before it for rules that look back), and replaces
exactly those rows in one Delta commit per table. Gold and the warehouse recompute the dates
those rows touch. A run with no new bronze data writes nothing but its `ops.runs` rows.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.datatypes import DataType

from wattlake.config import Settings
from wattlake.engine import Engine, engine_for
from wattlake.errors import PipelineError, WattlakeError
from wattlake.lake import catalog as cat
from wattlake.lake.delta import Lake
from wattlake.lake.predicates import sql_in
from wattlake.lake.spec import TableSpec, conform
from wattlake.logs import bind_batch, clear_context, get_logger
from wattlake.market import (
    MarketConfig,
    daily_community_kpis,
    daily_user_kpis,
    get_mechanism,
    hourly_eligibility,
    rolling_kpis,
    run_market,
    user_p2p_table,
    user_profiles,
)
from wattlake.market.settle import settle_flow
from wattlake.observability.alerts import (
    Alert,
    LogNotifier,
    Notifier,
    WebhookNotifier,
    notify_all,
    raise_alerts,
)
from wattlake.observability.metrics import collect_metrics, store_metrics
from wattlake.pipeline import external_gold
from wattlake.quality.runner import QualityGateError, enforce_gate
from wattlake.transforms import gold
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.parse import parse_timestamp_utc
from wattlake.transforms.silver import (
    accepted_readings,
    classify_all,
    estimated_rows,
    gaps,
    quarantine_rows,
    silver_rows,
)
from wattlake.transforms.users import typed_profiles
from wattlake.transforms.vee import neighbours as nb
from wattlake.transforms.vee.profile import get_profile
from wattlake.transforms.vee.rules import FAULT_RULES, column
from wattlake.warehouse.loader import load_warehouse


@dataclass
class StepResult:
    step: str
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunSummary:
    run_id: str
    engine: str
    profile: str
    steps: list[StepResult] = field(default_factory=list)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.step == name), None)


class _Counted:
    """Rows of `exprs` (engine tables in `spec`'s layout) as one stream of record batches,
    counted on the way: `rows`, `new` (of `pending` batches), `estimated`."""

    BATCH_ROWS = 500_000

    def __init__(self, exprs: list[ibis.Table], spec: TableSpec, pending: list[str]) -> None:
        self.exprs, self.spec, self.pending = exprs, spec, pa.array(pending, pa.string())
        self.rows = self.new = self.estimated = 0

    def _batches(self) -> Iterator[pa.RecordBatch]:
        for expr in self.exprs:
            for raw in expr.to_pyarrow_batches(chunk_size=self.BATCH_ROWS):
                batch = conform(pa.Table.from_batches([raw]), self.spec)
                self.rows += batch.num_rows
                self.new += int(pc.sum(pc.is_in(batch["_batch_id"], self.pending)).as_py() or 0)
                self.estimated += int(pc.sum(batch["is_estimated"]).as_py() or 0)
                yield from batch.to_batches()

    def reader(self) -> pa.RecordBatchReader:
        """The stream; the counts are complete once it is consumed."""
        return pa.RecordBatchReader.from_batches(self.spec.arrow_schema, self._batches())


def _iso(ts: dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _checkpointed(lake: Lake, step: str) -> set[str]:
    ck = lake.read(cat.OPS_CHECKPOINTS)
    return set(ck.filter(pc.equal(ck["step"], step))["batch_id"].to_pylist())


def forget_checkpoints(lake: Lake, step: str, batch_ids: list[str]) -> None:
    """Make `step` treat these batches as unprocessed again."""
    lake.delete(cat.OPS_CHECKPOINTS, f"step = '{step}' AND batch_id IN {sql_in(batch_ids)}")


def _checkpoint(
    lake: Lake, step: str, batch_ids: list[str], run_id: str, replace: bool = False
) -> None:
    """Mark batches as processed by `step` in this run (`replace`: re-processed batches
    take this run's id, so the steps downstream see them as pending again)."""
    now = dt.datetime.now(dt.UTC)
    if replace and batch_ids:
        forget_checkpoints(lake, step, batch_ids)
    lake.insert_new(
        cat.OPS_CHECKPOINTS,
        pa.Table.from_pylist(
            [
                {"step": step, "batch_id": b, "run_id": run_id, "processed_at": now}
                for b in batch_ids
            ]
        ),
    )


def _pending_batches(engine: Engine, lake: Lake, spec: TableSpec, step: str) -> list[str]:
    done = _checkpointed(lake, step)
    batches = engine.to_arrow(engine.read(lake, spec).select("_batch_id").distinct())
    return sorted(b for b in batches["_batch_id"].to_pylist() if b not in done)


class Pipeline:
    """One `wattlake run`: holds the engine, the lake and the run's bookkeeping."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        profile: str | None = None,
        progress: Callable[[str], None] | None = None,
        rebuild: bool = False,
        force: bool = False,
    ) -> None:
        self.settings = settings
        self.rebuild = rebuild
        self.force = force
        self.lake = Lake(settings.home)
        self.engine = engine or engine_for(settings)
        self.profile = get_profile(profile or settings.profile)
        self.run_id = "run-" + uuid.uuid4().hex[:12]
        self.summary = RunSummary(self.run_id, self.engine.name, self.profile.name)
        self.progress = progress or (lambda _s: None)
        clear_context()
        bind_batch(batch_id=self.run_id)
        self.log = get_logger(run_id=self.run_id, engine=self.engine.name)

    # -- bookkeeping -------------------------------------------------------------------
    def _record(self, res: StepResult, started: dt.datetime, status: str = "success") -> None:
        self.summary.steps.append(res)
        self.lake.append(
            cat.OPS_RUNS,
            pa.Table.from_pylist(
                [
                    {
                        "run_id": self.run_id,
                        "batch_id": self.run_id,
                        "step": res.step,
                        "source": "lake",
                        "engine": self.engine.name,
                        "profile": self.profile.name,
                        "rows_in": res.rows_in,
                        "rows_out": res.rows_out,
                        "rows_quarantined": res.rows_quarantined,
                        "rows_dead_letter": 0,
                        "rows_duplicate": 0,
                        "checksum": None,
                        "started_at": started,
                        "duration_s": round(res.seconds, 4),
                        "status": status,
                        "message": res.message,
                    }
                ]
            ),
        )
        self.log.info(
            "step_done",
            step=res.step,
            rows_in=res.rows_in,
            rows_out=res.rows_out,
            rows_quarantined=res.rows_quarantined,
            seconds=round(res.seconds, 3),
            status=status,
            message=res.message,
        )

    # -- steps -------------------------------------------------------------------------
    def silver_users(self) -> StepResult:
        """Typed user-profile history; rebuilt whole when new profile batches arrive."""
        t0 = time.perf_counter()
        res = StepResult("silver_users")
        pending = _pending_batches(self.engine, self.lake, cat.BRONZE_USERS, "silver_users")
        if not pending:
            res.message = "no new profile batches"
        else:
            bronze = self.engine.read(self.lake, cat.BRONZE_USERS)
            out = self.engine.to_arrow(typed_profiles(bronze))
            self.lake.replace_where(cat.SILVER_USERS, out, None)
            _checkpoint(self.lake, "silver_users", pending, self.run_id)
            res.rows_in, res.rows_out = out.num_rows, out.num_rows
            res.message = f"{len(pending)} new profile batch(es)"
        res.seconds = time.perf_counter() - t0
        return res

    def _registry(self) -> tuple[list[str] | None, list[str]]:
        """Known meter ids (None when no registry is loaded) and the vacant allow-list."""
        reg = self.lake.read(cat.SILVER_REGISTRY)
        if reg.num_rows == 0:
            return None, []
        vacant = reg.filter(pc.fill_null(reg["vacant"], False))["meter_id"].to_pylist()
        return reg["meter_id"].to_pylist(), vacant

    def _released(self) -> ibis.Table | None:
        if self.lake.read(cat.OPS_RELEASES, ["_record_id"]).num_rows == 0:
            return None
        return self.engine.read(self.lake, cat.OPS_RELEASES)

    def silver_readings(self) -> StepResult:
        """Bronze meter readings → `silver.meter_readings`, `silver.quarantine`, `silver.gaps`.

        Rows are rewritten from `write_from` = earliest new interval − lookback, and classified
        with another lookback of context before that, so every rewritten row sees at least
        `lookback_hours` of its meter's history (rules look back at most that far).

        The neighbourhood correlation judges whole weeks and compares meters: when meters
        have neighbours, `write_from` moves back to the start of its week, and the meters
        that have a meter with new readings among their neighbours are classified and
        rewritten with them (their weeks' verdicts may change although their own readings
        did not).
        """
        t0 = time.perf_counter()
        res = StepResult("silver")
        pending = _pending_batches(self.engine, self.lake, cat.BRONZE_READINGS, "silver")
        if self.rebuild:
            bronze0 = self.engine.read(self.lake, cat.BRONZE_READINGS)
            done = self.engine.to_arrow(bronze0.select("_batch_id").distinct())
            pending = sorted(done["_batch_id"].to_pylist())
        if not pending:
            res.message = "no new bronze batches"
            res.seconds = time.perf_counter() - t0
            return res
        bronze = self.engine.read(self.lake, cat.BRONZE_READINGS)
        # The raw `meter_id` stays as stored: chunks of meters filter on it, and a filter on
        # a stored column skips row groups (bronze is clustered by it, `cluster_by`).
        b = bronze.mutate(_mid=bronze.meter_id.strip(), _ts=parse_timestamp_utc(bronze.timestamp))
        new = b.filter(b._batch_id.isin(pending))
        firsts = self.engine.to_arrow(
            new.filter(new._ts.notnull())
            .group_by(meter_id=new._mid)
            .aggregate(first_ts=new._ts.min())
        )
        new_meters = firsts["meter_id"].to_pylist()
        since = min(firsts["first_ts"].to_pylist(), default=None)
        lookback = dt.timedelta(hours=self.settings.lookback_hours)
        pairs = self._neighbour_pairs()
        rejudged: list[str] = []
        write_from = None if self.rebuild or since is None else since - lookback
        if write_from is not None and pairs.num_rows:
            write_from = nb.week_start(write_from)
            rejudged = nb.judged_with(pairs, new_meters)
        meters = [*new_meters, *rejudged]  # the meters whose rows are rewritten
        if write_from is None:
            scope = b if self.rebuild else new
        else:
            context_from = write_from - lookback
            scope = b.filter(
                b._batch_id.isin(pending) | (b._mid.isin(meters) & (b._ts >= context_from))
            )
        scope = scope.drop("_mid", "_ts")
        today = dt.date.today()
        first_year = (since or dt.datetime.now(dt.UTC)).year
        holidays = uk_holidays(min(first_year, today.year) - 1, today.year + 1)
        registry, vacant = self._registry()
        # Meter by meter in chunks (the engine's `chunk_readings`), into one table.
        classified = classify_all(
            self.engine,
            scope,
            self.profile,
            holidays,
            registry=registry,
            vacant=vacant,
            released=self._released(),
        )
        classified = self._neighbour_fault(
            classified, pairs, None if write_from is None else (meters, context_from)
        )
        accepted = accepted_readings(classified)
        if write_from is not None:
            # The reading before the context bounds a long gap into the new data.
            silver_now = self.engine.read(self.lake, cat.SILVER_READINGS)
            before = silver_now.filter(
                silver_now.meter_id.isin(meters)
                & (
                    silver_now.ts.cast("timestamp")
                    < ibis.literal(context_from.replace(tzinfo=None))
                )
                & (silver_now.provenance != "estimated")
            )
            last = before.group_by("meter_id").aggregate(_last=before.ts.max())
            prior = before.join(
                last, (before.meter_id == last.meter_id) & (before.ts == last._last)
            )
            accepted = accepted.union(
                prior.select(
                    meter_id=before.meter_id,
                    ts=before.ts.cast(accepted.ts.type()),
                    kw=before.kw,
                    interval_minutes=before.interval_minutes,
                )
            )
            wf = ibis.literal(write_from.replace(tzinfo=None))
            classified = classified.filter(
                classified._batch_id.isin(pending) | (classified.ts >= wf)
            )
        gap_rows = gaps(accepted, self.profile, self.run_id)
        if write_from is not None:
            gap_rows = gap_rows.filter(gap_rows.next_ts >= wf)
        gap_rows = self.engine.materialize(gap_rows)
        estimates = estimated_rows(gap_rows, self.profile, holidays, self.run_id)
        if write_from is not None:
            estimates = estimates.filter(estimates.ts >= wf)

        silver = _Counted(
            [silver_rows(classified, self.run_id, self.profile), estimates],
            cat.SILVER_READINGS,
            pending,
        )
        quarantine = self.engine.to_arrow(quarantine_rows(classified, self.run_id))
        gap_arrow = self.engine.to_arrow(gap_rows)

        if write_from is None:
            silver_pred = gaps_pred = None if self.rebuild else "false"
            quarantine_pred = None if self.rebuild else f"_batch_id IN {sql_in(pending)}"
        else:
            window = f"meter_id IN {sql_in(meters)} AND ts >= '{_iso(write_from)}'"
            silver_pred = window
            quarantine_pred = f"({window}) OR _batch_id IN {sql_in(pending)}"
            gaps_pred = f"meter_id IN {sql_in(meters)} AND next_ts >= '{_iso(write_from)}'"
        self.lake.replace_where(cat.SILVER_READINGS, silver.reader(), silver_pred)
        self.lake.replace_where(cat.SILVER_QUARANTINE, quarantine, quarantine_pred)
        self.lake.replace_where(cat.SILVER_GAPS, gap_arrow, gaps_pred)
        self._alerts(gap_arrow, classified)
        _checkpoint(self.lake, "silver", pending, self.run_id, replace=self.rebuild)

        new_q = int(pc.sum(pc.is_in(quarantine["_batch_id"], pa.array(pending))).as_py() or 0)
        n_est = silver.estimated
        res.rows_in = silver.new + new_q
        res.rows_out = silver.rows
        res.rows_quarantined = quarantine.num_rows
        what = "all batches (rebuild)" if self.rebuild else f"{len(pending)} new batch(es)"
        res.message = (
            f"{what}, {len(new_meters)} meter(s)"
            + (f" from {since:%Y-%m-%d %H:%M}" if since else "")
            + (f" (+{len(rejudged)} neighbour(s) re-judged)" if rejudged else "")
            + f"; rewrote {silver.rows} silver ({n_est} estimated) + "
            f"{quarantine.num_rows} quarantine rows, {gap_arrow.num_rows} gaps; registry "
            + ("off (none loaded)" if registry is None else f"on ({len(registry)} meters)")
        )
        res.seconds = time.perf_counter() - t0
        return res

    def _neighbour_pairs(self) -> pa.Table:
        """`neighbours.neighbour_pairs` of the meters located by `silver.user_profiles`."""
        users = self.engine.read(self.lake, cat.SILVER_USERS)
        return nb.neighbour_pairs(self.engine.to_arrow(nb.meter_locations(users)), self.profile)

    def _neighbour_fault(
        self,
        classified: ibis.Table,
        pairs: pa.Table,
        scope: tuple[list[str], dt.datetime] | None,
    ) -> ibis.Table:
        """`classified` with the neighbourhood correlation fault (`vee.neighbours`, between
        `pairs`), judged on the weeks of its readings. An incremental run (`scope`: its
        meters and the start of their context) takes the other meters' readings of those
        weeks from silver."""
        if pairs.num_rows == 0:
            return nb.without_neighbour_fault(classified)
        own = nb.usable(classified).select("meter_id", "ts", "kw")
        own_h = self.engine.materialize(nb.binned_kw(own, self.profile))
        others_h = own_h
        if scope is not None:
            # The other meters' periods: theirs alone, so binning them apart is the same.
            history = self._neighbour_history(*scope, own.ts.type())
            others_h = self.engine.materialize(own_h.union(nb.binned_kw(history, self.profile)))
        pairs_t = self.engine.materialize(ibis.memtable(pairs))
        weeks = self.engine.materialize(
            nb.low_correlation_weeks(own_h, others_h, pairs_t, self.profile)
        )
        return nb.apply_neighbour_fault(classified, weeks, self.profile)

    def _neighbour_history(
        self, meters: list[str], since: dt.datetime, ts_type: DataType
    ) -> ibis.Table:
        """`meter_id, ts, kw` of the stored readings of meters other than `meters` from the
        week before `since` on, that `neighbours.usable` would keep (silver, not estimated,
        and quarantine)."""
        week_before = ibis.literal((since - dt.timedelta(days=7)).replace(tzinfo=None))
        parts = []
        for spec, rules in ((cat.SILVER_READINGS, "flags"), (cat.SILVER_QUARANTINE, "rules")):
            t = self.engine.read(self.lake, spec)
            t = t.mutate(ts=t.ts.cast(ts_type))
            t = t.filter(~t.meter_id.isin(meters) & (t.ts >= week_before) & t.kw.notnull())
            if "provenance" in t.columns:
                t = t.filter(t.provenance != "estimated")
            parts.append(nb.usable_flagged(t, t[rules]).select("meter_id", "ts", "kw"))
        return ibis.union(*parts)

    def _alerts(self, gap_arrow: pa.Table, classified: ibis.Table) -> None:
        """Critical alert per extended gap, warning per meter fault run (idempotent)."""
        now = dt.datetime.now(dt.UTC)
        rows = []
        for g in gap_arrow.filter(pc.equal(gap_arrow["gap_class"], "missing_extended")).to_pylist():
            rows.append(
                {
                    "alert_ts": now,
                    "severity": "critical",
                    "rule": "missing_extended",
                    "meter_id": g["meter_id"],
                    "run_id": self.run_id,
                    "message": f"no readings for {g['gap_hours']:.1f} h from "
                    f"{g['gap_start']:%Y-%m-%d %H:%M} to {g['next_ts']:%Y-%m-%d %H:%M} UTC",
                }
            )
        for rule in FAULT_RULES:
            c = classified.filter(classified[column(rule)])
            agg = self.engine.to_arrow(
                c.group_by("meter_id").aggregate(n=c.count(), first=c.ts.min(), last=c.ts.max())
            )
            for a in agg.to_pylist():
                rows.append(
                    {
                        "alert_ts": now,
                        "severity": "warning",
                        "rule": rule,
                        "meter_id": a["meter_id"],
                        "run_id": self.run_id,
                        "message": f"{a['n']} readings from {a['first']:%Y-%m-%d %H:%M} to "
                        f"{a['last']:%Y-%m-%d %H:%M} UTC",
                    }
                )
        if rows:
            self.lake.insert_new(cat.OPS_ALERTS, pa.Table.from_pylist(rows))

    def _market(
        self, silver: ibis.Table, channels: ibis.Table, users: ibis.Table, flow: ibis.Table
    ) -> tuple[ibis.Table, pa.Table]:
        """Clear the P2P market on the hourly flow; the flow net of P2P, and the trades.

        Only user-hours whose readings are all grade C or better may trade."""
        elig = hourly_eligibility(silver, channels)
        flow_in = flow.left_join(
            elig, (flow.user_id == elig.user_id) & (flow.hour_ts == elig.hour_ts)
        )
        flow_in = flow_in.drop([c for c in flow_in.columns if c.endswith("_right")])
        # Engines return rows in no fixed order; the market's tie-breaks must not depend on it.
        flow_rows = self.engine.to_arrow(flow_in).sort_by(
            [("hour_ts", "ascending"), ("user_id", "ascending")]
        )
        user_rows = self.engine.to_arrow(users).sort_by(
            [("user_id", "ascending"), ("effective_date", "ascending")]
        )
        result = run_market(
            flow_rows,
            user_rows,
            MarketConfig.from_settings(self.settings),
            get_mechanism(self.settings.market_mechanism),
        )
        p2p = self.engine.materialize(ibis.memtable(result.user_p2p))
        communities = ibis.memtable(result.communities)
        return settle_flow(flow, p2p, communities=communities), result.trades_table

    def _kpis(self, dates: list[dt.date]) -> int:
        """Rewrite the user and community KPI tables for `dates` and the 29 days after.

        The daily values of those dates changed, and so did the rolling 7/30-day means of
        the days that follow; the 29 days before are read only to feed the rolling means.
        Reads the gold flow and trades just written. Returns the rows written.
        """
        span = dt.timedelta(days=max(cat.ROLLING_DAYS) - 1)
        lo, hi = min(dates), max(dates) + span
        flow = self.engine.read(self.lake, cat.GOLD_FLOW_HOURLY)
        flow = flow.filter(flow.date.between(lo - span, hi))
        trades = self.lake.read(cat.GOLD_P2P_TRADES)
        trades = trades.filter(
            pc.and_(
                pc.greater_equal(trades["date"], pa.scalar(lo - span)),
                pc.less_equal(trades["date"], pa.scalar(hi)),
            )
        )
        user_p2p = ibis.memtable(user_p2p_table(trades))
        daily = self.engine.materialize(
            daily_user_kpis(flow, user_p2p, self.settings.grid_sell_eur_per_kwh)
        )
        pred = f"date >= '{lo.isoformat()}' AND date <= '{hi.isoformat()}'"
        written = 0
        community = rolling_kpis(daily_community_kpis(daily), key="community_id")
        for spec, expr in (
            (cat.GOLD_USER_KPIS, rolling_kpis(daily)),
            (cat.GOLD_COMMUNITY_KPIS, community),
        ):
            out = self.engine.to_arrow(expr.filter(expr.date.between(lo, hi)))
            self.lake.replace_where(spec, out, pred)
            written += out.num_rows
        # Profiles span every day of a user: recomputed whole from the KPI table.
        profiles = self.engine.to_arrow(
            user_profiles(
                self.engine.read(self.lake, cat.GOLD_USER_KPIS),
                self.engine.read(self.lake, cat.GOLD_FLOW_HOURLY),
                (self.profile.peak_start_hour, self.profile.peak_end_hour),
            )
        )
        self.lake.replace_where(cat.GOLD_USER_PROFILES, profiles, None)
        return written + profiles.num_rows

    # -- external data in gold: weather, prices, PV potential ---------------------------
    def _pending_external(self, done: set[str]) -> dict[str, list[str]]:
        """External ingest runs (weather, prices, PV) whose silver rows gold has not seen."""
        return external_gold.pending_external(self.lake, done)

    def _external_dates(self, silver: ibis.Table, external: dict[str, list[str]]) -> list[dt.date]:
        """Reading dates whose weather, prices or PV potential those runs changed."""
        batches = sorted({b for bs in external.values() for b in bs})
        return external_gold.external_dates(self.engine, self.lake, silver, batches)

    def _enriched(self, s: ibis.Table, users: ibis.Table, dates: list[dt.date]) -> ibis.Table:
        """`gold.readings_enriched` rows of `dates`, computed once per run (materialized)."""
        cached = getattr(self, "_enriched_cache", None)
        if cached is None or cached[0] != tuple(dates):
            expr = external_gold.enriched_readings(
                self.engine, self.lake, s, users, dates, self.settings.price_zone
            )
            cached = (tuple(dates), self.engine.materialize(expr))
            self._enriched_cache = cached
        return cached[1]

    def _without_extreme_weather(
        self, s: ibis.Table, users: ibis.Table, dates: list[dt.date]
    ) -> ibis.Table:
        """The peak analysis' readings: `s` without extreme-weather hours (GreenStream)."""
        return external_gold.without_extreme_weather(s, self._enriched(s, users, dates))

    def _external_gold(
        self, s: ibis.Table, users: ibis.Table, dates: list[dt.date]
    ) -> list[tuple[TableSpec, pa.Table]]:
        """Enriched readings and modelled-vs-metered PV of `dates`; reads the gold flow,
        so call it after `gold.energy_flow_hourly` is written."""
        enriched = self.engine.to_arrow(self._enriched(s, users, dates))
        modelled = external_gold.pv_modelled_hourly(self.engine, self.lake, users, dates)
        return [(cat.GOLD_READINGS_ENRICHED, enriched), (cat.GOLD_PV_MODELLED, modelled)]

    def gold_and_warehouse(self) -> list[StepResult]:
        """Recompute gold for the dates touched by pending silver runs, then load the warehouse."""
        t0 = time.perf_counter()
        done = _checkpointed(self.lake, "gold")
        ck = self.lake.read(cat.OPS_CHECKPOINTS)
        silver_runs = {
            (r["run_id"], r["step"])
            for r in ck.to_pylist()
            if r["step"] in ("silver", "silver_users")
        }
        pending = sorted({run for run, _ in silver_runs if run not in done})
        external = self._pending_external(done)
        if not pending and not external:
            return [
                StepResult("gold", message="silver unchanged"),
                StepResult("warehouse", message="gold unchanged"),
            ]
        # Silver changes are about to be promoted: the bronze and silver gates decide.
        self._gate("bronze")
        self._gate("silver")
        users_changed = any(step == "silver_users" and run in pending for run, step in silver_runs)
        silver = self.engine.read(self.lake, cat.SILVER_READINGS)
        users = self.engine.read(self.lake, cat.SILVER_USERS)
        if users_changed:
            dates_q = silver.select("date").distinct()
        else:
            quarantine = self.engine.read(self.lake, cat.SILVER_QUARANTINE)
            touched_s = silver.filter(silver._run_id.isin(pending)).select("date")
            touched_q = quarantine.filter(
                quarantine._run_id.isin(pending)
                & quarantine.ts.notnull()
                & ~quarantine.rules.contains("future_timestamp")
            ).select(date=quarantine.ts.cast("timestamp").date())
            dates_q = touched_s.union(touched_q).distinct()
        dates = sorted(d for d in self.engine.to_arrow(dates_q)["date"].to_pylist() if d)
        dates = sorted({*dates, *self._external_dates(silver, external)})

        res = StepResult("gold", message=f"{len(dates)} date(s) recomputed")
        wh_results: list[StepResult] = []
        if dates:
            s = silver.filter(silver.date.isin(dates))
            channels = gold.meter_channels(users)
            stats = self.engine.to_arrow(gold.hourly_meter_stats(s))
            # The flow feeds the market, the settled flow and the daily balance: compute once.
            hourly = self.engine.materialize(gold.energy_flow_hourly(s, channels))
            flow_expr, trades = self._market(s, channels, users, hourly)
            flow_expr = self.engine.materialize(flow_expr)
            flow = self.engine.to_arrow(flow_expr)
            daily = self.engine.to_arrow(gold.daily_energy_balance(flow_expr))
            peak_scope = self._without_extreme_weather(s, users, dates)
            peaks = self.engine.to_arrow(gold.peak_hours(peak_scope, channels))
            pred = "date IN " + sql_in(d.isoformat() for d in dates)
            for spec, data in (
                (cat.GOLD_HOURLY_METER, stats),
                (cat.GOLD_FLOW_HOURLY, flow),
                (cat.GOLD_DAILY_BALANCE, daily),
                (cat.GOLD_PEAK_HOURS, peaks),
                (cat.GOLD_P2P_TRADES, trades),
            ):
                self.lake.replace_where(spec, data, pred)
            for spec, data in self._external_gold(s, users, dates):
                self.lake.replace_where(spec, data, pred)
            kpi_rows = self._kpis(dates)
            res.rows_out = (
                stats.num_rows + flow.num_rows + daily.num_rows + peaks.num_rows + kpi_rows
            )
            res.message += f"; {trades.num_rows} P2P trade(s)"
        res.seconds = time.perf_counter() - t0
        if dates:
            self._gate("gold")
        t1 = time.perf_counter()
        wh = load_warehouse(self.settings, dates, full_users=users_changed)
        wh_results.append(
            StepResult(
                "warehouse",
                rows_out=wh.fact_rows,
                seconds=time.perf_counter() - t1,
                message=wh.message,
            )
        )
        _checkpoint(self.lake, "gold", pending, self.run_id)
        _checkpoint(self.lake, "gold", sorted(external), self.run_id)
        return [res, *wh_results]

    def _gate(self, layer: str, force: bool | None = None) -> None:
        """Quality checks of `layer`; error-severity failures stop promotion (unless forced)."""
        started = dt.datetime.now(dt.UTC)
        override = self.force if force is None else force
        try:
            failures = enforce_gate(
                home=self.settings.home,
                warehouse=self.settings.warehouse,
                run_id=self.run_id,
                layer=layer,
                force=override,
                profile=self.profile.name,
            )
        except QualityGateError as exc:
            self._record(StepResult(f"quality_gate_{layer}", message=str(exc)), started, "blocked")
            raise
        if failures:
            ids = ", ".join(f.check_id for f in failures)
            status = "overridden" if self.force and layer != "warehouse" else "warned"
            self._record(
                StepResult(f"quality_gate_{layer}", message=f"failed: {ids}"), started, status
            )

    def _step(self, name: str, fn: Callable[[], list[StepResult]]) -> None:
        """Run one step with retries on unexpected errors (GreenStream: 3 tries, backoff);
        record it in `ops.runs` as success or failed (quality gates record "blocked")."""
        started = dt.datetime.now(dt.UTC)
        self.progress(name)
        delays = list(self.settings.retry_backoff_s)
        t0 = time.perf_counter()
        while True:
            try:
                results = fn()
                break
            except QualityGateError:
                raise  # recorded by _gate as "blocked"
            except WattlakeError as exc:
                self._record(
                    StepResult(name, seconds=time.perf_counter() - t0, message=str(exc)),
                    started,
                    "failed",
                )
                raise
            except Exception as exc:
                if delays:
                    delay = delays.pop(0)
                    self.log.warning("step_retry", step=name, error=repr(exc), in_s=delay)
                    time.sleep(delay)
                    continue
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self._record(
                    StepResult(name, seconds=time.perf_counter() - t0, message=msg),
                    started,
                    "failed",
                )
                raise PipelineError(f"step {name} failed after retries: {msg}") from exc
        for r in results:
            self._record(r, started)

    def _notify(self) -> None:
        """Send every alert this run raised to the log and, if set, the webhook."""
        notifiers: list[Notifier] = [LogNotifier()]
        if self.settings.alert_webhook_url:
            notifiers.append(WebhookNotifier(self.settings.alert_webhook_url))
        rows = self.lake.read(cat.OPS_ALERTS)
        mine = rows.filter(pc.equal(rows["run_id"], self.run_id)).to_pylist()
        if mine:
            errors = notify_all([Alert(**r) for r in mine], notifiers)
            for exc in errors:
                self.log.warning("alert_notify_failed", error=repr(exc))

    def run(self) -> RunSummary:
        """All steps in order, each recorded in `ops.runs`; quality gates between layers."""
        self._step("silver_users", lambda: [self.silver_users()])
        self._step("silver", lambda: [self.silver_readings()])
        self._step("gold", self.gold_and_warehouse)
        if any(s.step == "warehouse" and s.rows_out for s in self.summary.steps):
            self._gate("warehouse", force=True)  # committed already: report, do not block
        raise_alerts(self.settings.home, self.run_id, warehouse=self.settings.warehouse)
        self._notify()
        store_metrics(
            self.lake, collect_metrics(self.settings.home, self.settings.warehouse), self.run_id
        )
        return self.summary


def run_pipeline(
    settings: Settings,
    engine: Engine | None = None,
    profile: str | None = None,
    progress: Callable[[str], None] | None = None,
    rebuild: bool = False,
    force: bool = False,
) -> RunSummary:
    """Process everything new in bronze (everything with `rebuild`); see the module docstring.

    `force` promotes past failed error-severity quality checks (recorded in `ops.runs`)."""
    p = Pipeline(
        settings, engine=engine, profile=profile, progress=progress, rebuild=rebuild, force=force
    )
    try:
        return p.run()
    finally:
        if engine is None:
            p.engine.close()
