"""The model registry: MLflow with a SQLite store under the home (`<home>/mlflow/`).

Every training run logs its parameters, metrics, the XGBoost booster (MLflow's xgboost
flavour), the model's metadata (`model.json`: features, scale, conformal margin) and its
model card (`model_card.md` / `model_card.json`: features, training window, metrics,
baselines). Each run registers a version of `wattlake-<family>`; the alias `champion` moves
to it only when it beats the current champion on the same backtest window ("register if
better", decided by the caller: `service.train`). `set_champion` moves the alias back to
any version (rollback).

MLflow is imported only here and only when used (it takes seconds to import).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattlake.errors import InputError, WattlakeError
from wattlake.forecast.models import QuantileModel

CHAMPION = "champion"
EXPERIMENT = "wattlake-forecast"


def model_name(family: str) -> str:
    return f"wattlake-{family}"


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    run_id: str
    champion: bool
    metrics: dict[str, float]
    tags: dict[str, str]
    created_ms: int


class Registry:
    """MLflow tracking + model registry in `<home>/mlflow/mlflow.db`, artifacts beside it."""

    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "mlflow"
        self.root.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        try:
            import mlflow
            from mlflow import MlflowClient
        except ImportError:  # pragma: no cover - depends on the install
            raise WattlakeError(
                "the model registry needs MLflow: pip install 'wattlake[forecast]'"
            ) from None
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("alembic").setLevel(logging.ERROR)
        self.mlflow = mlflow
        self.uri = f"sqlite:///{self.root / 'mlflow.db'}"
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment_id = (
            exp.experiment_id
            if exp is not None
            else self.client.create_experiment(
                EXPERIMENT, artifact_location=(self.root / "artifacts").as_uri()
            )
        )

    # -- writing ---------------------------------------------------------------------
    def log(
        self,
        family: str,
        model: QuantileModel,
        params: dict[str, Any],
        metrics: dict[str, float],
        card: dict[str, Any],
        card_md: str,
    ) -> Version:
        """Log a training run and register its model as a new version (no alias)."""
        import math

        mlflow = self.mlflow
        name = model_name(family)
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=family):
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if math.isfinite(v)})
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                (d / "model.json").write_text(model.meta_json())
                (d / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
                (d / "model_card.md").write_text(card_md)
                mlflow.log_artifacts(str(d))
            info = mlflow.xgboost.log_model(
                model.booster, name="model", model_format="ubj", registered_model_name=name
            )
        version = int(info.registered_model_version)
        self.client.set_model_version_tag(name, str(version), "family", family)
        self.client.set_model_version_tag(
            name, str(version), "window", str(card.get("training_window"))
        )
        return self.version(name, version)

    def set_champion(self, family: str, version: int) -> None:
        name = model_name(family)
        self.version(name, version)  # raises when unknown
        self.client.set_registered_model_alias(name, CHAMPION, str(version))

    # -- reading ---------------------------------------------------------------------
    def version(self, name: str, version: int) -> Version:
        try:
            mv = self.client.get_model_version(name, str(version))
        except Exception:
            raise InputError(f"no version {version} of model {name}") from None
        champ = self.champion_version(name)
        run_id = str(mv.run_id)
        run = self.client.get_run(run_id)
        return Version(
            name,
            int(mv.version),
            run_id,
            champ == int(mv.version),
            dict(run.data.metrics),
            dict(mv.tags),
            int(mv.creation_timestamp),
        )

    def champion_version(self, name: str) -> int | None:
        try:
            return int(self.client.get_model_version_by_alias(name, CHAMPION).version)
        except Exception:
            return None

    def versions(self, family: str | None = None) -> list[Version]:
        names = (
            [model_name(family)]
            if family
            else [m.name for m in self.client.search_registered_models()]
        )
        out: list[Version] = []
        for n in sorted(names):
            try:
                mvs = self.client.search_model_versions(f"name='{n}'")
            except Exception:
                continue
            out += [self.version(n, int(mv.version)) for mv in mvs]
        return sorted(out, key=lambda v: (v.name, v.version))

    def load(self, family: str, version: int | None = None) -> tuple[QuantileModel, Version]:
        """The champion (or `version`) of `family`: the model and its registry entry."""
        name = model_name(family)
        if version is None:
            version = self.champion_version(name)
            if version is None:
                raise InputError(
                    f"no champion for {name}: train it first (wattlake forecast train)"
                )
        v = self.version(name, version)
        booster = self.mlflow.xgboost.load_model(f"models:/{name}/{version}")
        meta = json.loads(self.artifact(v.run_id, "model.json"))
        return QuantileModel.from_meta(meta, booster), v

    def card(self, family: str, version: int) -> str:
        v = self.version(model_name(family), version)
        return self.artifact(v.run_id, "model_card.md")

    def artifact(self, run_id: str, path: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            local = self.mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=tmp, tracking_uri=self.uri
            )
            return Path(local).read_text()
