"""Households: hidden behaviour parameters and the SCD2 user-profile history."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd

from wattlake.lake.catalog import USER_PROFILE_COLUMNS

ACORN_GROUPS = ("Affluent", "Comfortable", "Adversity")
ACORN_PROBS = (0.35, 0.30, 0.35)
ACORN_SCALE = np.array([1.25, 1.0, 0.85])
TARIFFS = ("Std", "ToU")
# London box (degrees)
LAT_RANGE = (51.35, 51.65)
LON_RANGE = (-0.45, 0.20)
PROSUMER_SHARE = 0.30
CHANGE_SHARE = 0.10
MOVE_SHARE = 0.01
USERS_COLUMNS = USER_PROFILE_COLUMNS
NO_DAY = -1


@dataclass(frozen=True)
class Behaviour:
    """Hidden per-household consumption parameters, arrays of shape (H,).

    scale: dimensionless multiplier; base_kw: base load in kW; morning_h / evening_h: local
    peak hours; morning_kw / evening_kw / daytime_kw: peak amplitudes in kW; heat_kw_per_k:
    heating power in kW per kelvin of heating degree (15.5 °C base); noise_sigma: log-std of
    the multiplicative per-interval noise.
    """

    scale: np.ndarray
    base_kw: np.ndarray
    morning_h: np.ndarray
    evening_h: np.ndarray
    morning_kw: np.ndarray
    evening_kw: np.ndarray
    daytime_kw: np.ndarray
    heat_kw_per_k: np.ndarray
    noise_sigma: np.ndarray

    def take(self, idx: np.ndarray | slice) -> Behaviour:
        """Subset of households."""
        return Behaviour(**{k: v[idx] for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class Population:
    """All households, their PV timeline (day indices, ``-1`` = never) and SCD2 history.

    pv_install_day: day index from which the PV meter reports (0 = from start).
    kwp_initial / kwp_upgraded: panel peak power in kWp before/after ``kwp_upgrade_day``.
    orientation: dimensionless yield factor from tilt/azimuth (1.0 = 35°, south).
    history: users.csv rows (strings), one row per user and version.
    """

    n: int
    behaviour: Behaviour
    pv_install_day: np.ndarray
    kwp_initial: np.ndarray
    kwp_upgraded: np.ndarray
    kwp_upgrade_day: np.ndarray
    orientation: np.ndarray
    history: pd.DataFrame

    @property
    def has_pv(self) -> np.ndarray:
        """True for households with a PV meter reporting within the period, shape (H,)."""
        return self.pv_install_day >= 0

    def kwp_by_day(self, idx: np.ndarray, days: int) -> np.ndarray:
        """Panel size in kWp valid on each day for households ``idx``, shape (len(idx), days)."""
        d = np.arange(days)[None, :]
        up = self.kwp_upgrade_day[idx][:, None]
        kwp = np.where(
            (up >= 0) & (d >= up), self.kwp_upgraded[idx][:, None], self.kwp_initial[idx][:, None]
        )
        installed = (self.pv_install_day[idx][:, None] >= 0) & (
            d >= self.pv_install_day[idx][:, None]
        )
        return np.where(installed, kwp, 0.0)


def meter_id(i: np.ndarray | int, prefix: str = "MAC") -> np.ndarray:
    """Meter ids like ``MAC000001`` for 0-based household indices ``i``."""
    return np.char.mod(prefix + "%06d", np.asarray(i, dtype=np.int64) + 1).astype(str)


def draw_behaviour(acorn: np.ndarray, rng: np.random.Generator) -> Behaviour:
    """Draw consumption habits; ~10% of households have electric heating."""
    n = len(acorn)
    electric = rng.random(n) < 0.10
    return Behaviour(
        scale=ACORN_SCALE[acorn] * rng.lognormal(0.0, 0.30, n),
        base_kw=rng.uniform(0.08, 0.22, n),
        morning_h=rng.normal(7.6, 0.6, n),
        evening_h=rng.normal(19.0, 0.9, n),
        morning_kw=rng.uniform(0.25, 0.8, n),
        evening_kw=rng.uniform(0.4, 1.1, n),
        daytime_kw=rng.uniform(0.15, 0.6, n),
        heat_kw_per_k=np.where(electric, rng.uniform(0.04, 0.08, n), rng.uniform(0.0, 0.01, n)),
        noise_sigma=rng.uniform(0.25, 0.45, n),
    )


def _orientation_factor(tilt: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Rough annual yield factor vs. a 35° south-facing panel (dimensionless)."""
    return (1.0 - 0.35 * ((azimuth - 180.0) / 90.0) ** 2) * (1.0 - 0.0004 * (tilt - 35.0) ** 2)


def draw_population(
    n: int, days: int, start: datetime.date, rng: np.random.Generator
) -> Population:
    """Draw ``n`` households with attributes, SCD2 change events and behaviour.

    Changes (~10% of users) happen on a day in ``1..days-1`` (needs ``days >= 2``): tariff
    switch, PV installation (consumers) or panel upgrade (prosumers); ~1% of users move.
    """
    acorn = rng.choice(len(ACORN_GROUPS), size=n, p=ACORN_PROBS)
    prosumer0 = rng.random(n) < PROSUMER_SHARE
    tariff0 = (rng.random(n) < 0.2).astype(np.int64)
    kwp0 = np.round(rng.uniform(2.0, 8.0, n), 1)
    tilt = np.round(rng.uniform(15.0, 45.0, n))
    azimuth = np.round(rng.uniform(90.0, 270.0, n))
    lat0 = rng.uniform(*LAT_RANGE, n)
    lon0 = rng.uniform(*LON_RANGE, n)
    lat1 = rng.uniform(*LAT_RANGE, n)
    lon1 = rng.uniform(*LON_RANGE, n)

    # --- change events (one attribute event per changing user, plus rare moves)
    change_day = np.full(n, NO_DAY)
    move_day = np.full(n, NO_DAY)
    kind = np.zeros(n, dtype=np.int64)  # 0 none, 1 tariff, 2 install, 3 upgrade
    if days >= 2:
        changers = rng.random(n) < CHANGE_SHARE
        consumers = np.flatnonzero(~prosumer0)
        if n >= 3 and consumers.size and not (changers & ~prosumer0).any():
            changers[rng.choice(consumers)] = True  # guarantee one PV installation
        change_day = np.where(changers, rng.integers(1, days, n), NO_DAY)
        structural = rng.random(n) < 0.5
        kind = np.where(changers, np.where(structural, np.where(prosumer0, 3, 2), 1), 0)
        if n >= 3 and consumers.size and not (kind == 2).any():
            kind[np.flatnonzero(changers & ~prosumer0)[0]] = 2
        kind = np.where((kind == 3) & (kwp0 >= 7.5), 1, kind)  # no room to upgrade
        movers = rng.random(n) < MOVE_SHARE
        move_day = np.where(movers, rng.integers(1, days, n), NO_DAY)

    install_day = np.where(prosumer0, 0, np.where(kind == 2, change_day, NO_DAY))
    upgrade_day = np.where(kind == 3, change_day, NO_DAY)
    kwp_up = np.round(np.minimum(kwp0 + rng.uniform(0.5, 3.0, n), 8.0), 1)

    history = _history(
        n=n,
        start=start,
        acorn=acorn,
        prosumer0=prosumer0,
        tariff0=tariff0,
        kwp0=kwp0,
        kwp_up=kwp_up,
        tilt=tilt,
        azimuth=azimuth,
        lat=(lat0, lat1),
        lon=(lon0, lon1),
        kind=kind,
        change_day=change_day,
        move_day=move_day,
    )
    return Population(
        n=n,
        behaviour=draw_behaviour(acorn, rng),
        pv_install_day=install_day,
        kwp_initial=kwp0,
        kwp_upgraded=kwp_up,
        kwp_upgrade_day=upgrade_day,
        orientation=_orientation_factor(tilt, azimuth),
        history=history,
    )


def _history(
    *,
    n: int,
    start: datetime.date,
    acorn: np.ndarray,
    prosumer0: np.ndarray,
    tariff0: np.ndarray,
    kwp0: np.ndarray,
    kwp_up: np.ndarray,
    tilt: np.ndarray,
    azimuth: np.ndarray,
    lat: tuple[np.ndarray, np.ndarray],
    lon: tuple[np.ndarray, np.ndarray],
    kind: np.ndarray,
    change_day: np.ndarray,
    move_day: np.ndarray,
) -> pd.DataFrame:
    """users.csv rows: for each user the versions effective at day 0, change_day, move_day."""
    users = np.arange(n)
    version_days = [np.zeros(n, dtype=np.int64), change_day, move_day]
    u = np.concatenate([users[d >= 0] for d in version_days])
    day = np.concatenate([d[d >= 0] for d in version_days])
    key = np.unique(u * (10**7) + day)  # sorted by user then day; merges equal days
    u, day = key // (10**7), key % (10**7)

    after_change = (change_day[u] >= 0) & (day >= change_day[u])
    moved = (move_day[u] >= 0) & (day >= move_day[u])
    k = kind[u]
    prosumer = prosumer0[u] | (after_change & (k == 2))
    kwp = np.where(prosumer, np.where(after_change & (k == 3), kwp_up[u], kwp0[u]), 0.0)
    tariff = np.where(after_change & (k == 1), 1 - tariff0[u], tariff0[u])
    dates = (np.datetime64(start, "D") + day).astype(str)
    return pd.DataFrame(
        {
            "user_id": meter_id(u, "U"),
            "meter_id": meter_id(u),
            "pv_meter_id": np.where(prosumer, meter_id(u, "PV"), ""),
            "user_type": np.where(prosumer, "prosumer", "consumer"),
            "panel_kwp": np.char.mod("%.1f", kwp),
            "panel_tilt_deg": np.where(prosumer, np.char.mod("%.0f", tilt[u]), ""),
            "panel_azimuth_deg": np.where(prosumer, np.char.mod("%.0f", azimuth[u]), ""),
            "latitude": np.char.mod("%.5f", np.where(moved, lat[1][u], lat[0][u])),
            "longitude": np.char.mod("%.5f", np.where(moved, lon[1][u], lon[0][u])),
            "tariff": np.asarray(TARIFFS)[tariff],
            "acorn_group": np.asarray(ACORN_GROUPS)[acorn[u]],
            "effective_date": dates,
        },
        columns=list(USERS_COLUMNS),
    )
