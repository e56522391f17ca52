"""The interest classifier on the real data: trained and compared in MLflow by the
pipeline DAG, promoted through the registry's gate, and the scoring DAG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import duckdb
import pandas as pd
import pytest

from tests.e2e.conftest import USERS, PipelineRun, copy_data_dir, pipeline_env, run_airflow
from usersegments.config import PROJECT_DIR, Settings
from usersegments.lake import partition_name

CANDIDATES = {
    "majority_baseline",
    "logistic_regression",
    "random_forest",
    "linear_svm",
    "spark_logistic_regression",
}


def latest_summary(settings: Settings) -> dict:
    paths = sorted(settings.runs_dir.glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(paths[-1].read_text())


def test_pipeline_trains_tracks_and_promotes_the_classifier(demo_run):
    from mlflow import MlflowClient

    from ml import tracking

    classifier = latest_summary(demo_run.settings)["classifier"]
    scores = {c["name"]: c["macro_f1"] for c in classifier["candidates"]}
    assert set(scores) == CANDIDATES
    best = scores[classifier["best_candidate"]]
    assert best == max(v for k, v in scores.items() if k != "majority_baseline")
    # a clear margin over predicting the commonest interest (gift cards) for everyone,
    # whose macro F1 is about half of one class's
    assert scores["majority_baseline"] < 0.5 and best > 0.9, scores
    assert classifier["heldout_users"] + classifier["train_users"] == USERS
    gate = classifier["gate"]
    assert gate["promoted"] and gate["reason"] == "no champion yet"

    client = MlflowClient(tracking_uri=tracking.tracking_uri(demo_run.settings))
    champion = client.get_model_version_by_alias(tracking.model_name(demo_run.settings), "champion")
    assert int(champion.version) == classifier["challenger_version"]
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], "tags.candidate != ''")
    assert {r.data.tags["candidate"] for r in runs} == CANDIDATES
    for run in runs:
        metrics, tags = run.data.metrics, run.data.tags
        for metric in (
            "accuracy",
            "macro_f1",
            "weighted_f1",
            "macro_precision",
            "weighted_recall",
            "f1_appliances",
            "recall_gift_cards",
        ):
            assert metric in metrics, (tags["candidate"], metric)
        assert tags["segmentation_run_id"] == partition_name(classifier["segmentation_run_id"])
        assert tags["code_version"]
        contexts = {i.tags[0].value for i in run.inputs.dataset_inputs}
        assert contexts == {"training", "evaluation"}
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "confusion_matrix.png" in artifacts
    import mlflow

    mlflow.set_tracking_uri(tracking.tracking_uri(demo_run.settings))
    mlflow.set_registry_uri(tracking.tracking_uri(demo_run.settings))
    info = mlflow.models.get_model_info(
        f"models:/{tracking.model_name(demo_run.settings)}/{champion.version}"
    )
    assert info.signature is not None and info.saved_input_example_info is not None
    inputs = info.signature.inputs.input_names()
    assert "text_000" in inputs and "pagerank" in inputs
    assert not [c for c in inputs if c.startswith("share_")]


def scoring_dag(run) -> subprocess.CompletedProcess:
    result = run_airflow(run.env, "dags", "test", "score_new_users")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return result


def warehouse_scores(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.sql("select * from user_interest_scores").df()


def test_scoring_dag_scores_each_user_once(demo_run, tmp_path):
    from usersegments.warehouse import read_scores

    # the demo's run (Airflow's home too), to change apart from the shared one
    data_dir = copy_data_dir(demo_run.settings.data_dir, tmp_path / "data", airflow=True)
    settings = Settings(data_dir=data_dir, source_dir=demo_run.settings.source_dir)
    copy = PipelineRun(settings, pipeline_env(data_dir, settings.source_dir), demo_run.result)
    # make demo ran the scoring DAG after the pipeline
    first = read_scores(settings)
    published = warehouse_scores(settings)
    # every user read was scored, once, and the warehouse holds exactly those rows
    assert len(first) == first["user_key"].nunique() == USERS
    assert len(published) == USERS and published["user_key"].is_unique
    assert published["segment_name"].notna().all()
    assert set(published["model_version"]) == {
        latest_summary(settings)["classifier"]["gate"]["champion_version"]
    }
    # nearest centroid of the current run: the K-means assignment, for (nearly) everyone
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        agreement = con.sql(
            "select avg((s.segment_id = u.segment_id)::int) from user_interest_scores s "
            "join user_segments u using (user_key)"
        ).fetchall()[0][0]
    assert agreement > 0.99
    # the scores agree with the labels on held-out and trained users alike
    labels = pd.read_parquet(
        settings.lake_dir / "clean" / "users.parquet", columns=["user_key", "primary_category"]
    )
    accuracy = (
        published.merge(labels, on="user_key").eval("predicted_interest == primary_category")
    ).mean()
    assert accuracy > 0.9

    # users an earlier run did not score (here: removed from its batch) are scored next
    # time, and only they: a rerun does not score a user twice
    (batch,) = settings.lake.scores().glob("*/part-0.parquet")
    kept = pd.read_parquet(batch).iloc[: USERS // 2]
    kept.to_parquet(batch, index=False)
    scoring_dag(copy)
    after = read_scores(settings)
    assert len(after) == after["user_key"].nunique() == USERS
    newest = after[after["scoring_run_id"] != batch.parent.name.split("=", 1)[1]]
    assert len(newest) == USERS - len(kept)
    assert set(newest["user_key"]).isdisjoint(kept["user_key"])
    published = warehouse_scores(settings)
    assert len(published) == USERS and published["user_key"].is_unique


@pytest.fixture()
def registry_settings(demo_run, tmp_path) -> Settings:
    """The demo run's lake tables the classifier reads, under a fresh data folder: an
    empty MLflow registry of its own."""
    source, settings = (
        demo_run.settings,
        Settings(data_dir=tmp_path, source_dir=demo_run.settings.source_dir),
    )
    for folder in ("segments/features", "segments/runs", "classifier"):
        shutil.copytree(source.lake_dir / folder, settings.lake_dir / folder)
    (settings.lake_dir / "clean").mkdir(parents=True)
    shutil.copy(
        source.lake_dir / "clean" / "users.parquet", settings.lake_dir / "clean" / "users.parquet"
    )
    return settings


def register_weak_model(settings: Settings) -> int:
    """A challenger that predicts the commonest interest for everyone."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyClassifier

    from ml import tracking
    from ml.data import LABEL, load_split
    from ml.registry import set_alias

    tracking.configure(settings)
    split = load_split(settings)
    train = split.frame("train")
    model = DummyClassifier(strategy="most_frequent").fit(split.x(train), train[LABEL])
    example = split.example(2)
    with mlflow.start_run(
        experiment_id=tracking.experiment_id(mlflow.MlflowClient(), tracking.EXPERIMENT, settings)
    ):
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(example, model.predict(example))
        )
    version = int(
        mlflow.register_model(
            info.model_uri,
            tracking.model_name(settings),
            tags={"segmentation_run_id": split.segmentation_run_id},
        ).version
    )
    set_alias(settings, "challenger", version, "test", "register", "a deliberately weak model")
    return version


def fresh_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, **settings.env()}


def test_gate_promotes_better_refuses_worse_and_rolls_back(registry_settings):
    from mlflow import MlflowClient

    from ml import tracking
    from ml.registry import GatePolicy, alias_version, gate, history, rollback
    from ml.train import train

    settings = registry_settings
    client = tracking.configure(settings)

    weak = register_weak_model(settings)
    # no champion yet: the weak model passes only with no per-class floor
    refused = gate(settings, GatePolicy(margin=0.01, class_f1_floor=0.5), actor="test")
    assert not refused["promoted"] and "below the floor" in refused["reason"]
    first = gate(settings, GatePolicy(margin=0.01, class_f1_floor=0.0), actor="test")
    assert first["promoted"] and alias_version(client, settings.model_name, "champion") == weak

    # a better challenger is promoted
    strong = train(settings, include_spark=False)["challenger_version"]
    better = gate(settings, actor="test")
    assert better["promoted"], better["reason"]
    assert alias_version(client, settings.model_name, "champion") == strong
    assert better["metrics"]["challenger_macro_f1"] > better["metrics"]["champion_macro_f1"] + 0.4

    # a worse one is not, nor an equal one (no gain of the margin)
    register_weak_model(settings)
    assert not gate(settings, GatePolicy(margin=0.01, class_f1_floor=0.0), actor="test")["promoted"]
    train(settings, include_spark=False)
    equal = gate(settings, actor="test")
    assert not equal["promoted"] and "< margin" in equal["reason"]
    assert alias_version(client, settings.model_name, "champion") == strong

    # the champion loads by alias in a fresh process and scores users
    script = (
        "import mlflow, pandas as pd; from ml import tracking; from ml.data import load_split;"
        "from usersegments.config import Settings; s = Settings.from_env(); tracking.configure(s);"
        "m = mlflow.pyfunc.load_model(f'models:/{tracking.model_name(s)}@champion'); sp = load_split(s);"
        "t = sp.frame('heldout'); p = m.predict(sp.x(t));"
        "print((pd.Series(p).values == t['interest_category'].values).mean())"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script],
        env=fresh_env(settings),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert float(fresh.stdout.strip().splitlines()[-1]) > 0.9

    # rollback restores the previous champion; the history says who, when, from and to
    rolled = rollback(settings, actor="test")
    assert (rolled["from_version"], rolled["to_version"]) == (str(strong), str(weak))
    assert alias_version(client, settings.model_name, "champion") == weak
    changes = history(settings)
    champion_changes = changes[(changes["alias"] == "champion") & (changes["applied"] == "true")]
    assert list(champion_changes["action"]) == ["gate_promote", "gate_promote", "rollback"]
    assert list(champion_changes["to_version"]) == [str(weak), str(strong), str(weak)]
    assert champion_changes["at"].is_monotonic_increasing
    assert (changes["actor"] == "test").sum() >= 6
    refusals = changes[changes["action"] == "gate_refuse"]
    assert len(refusals) == 3 and refusals["challenger_macro_f1"].notna().all()
    # nothing earlier than the first champion to roll back to
    from ml.registry import RegistryError

    with pytest.raises(RegistryError, match="no earlier champion"):
        rollback(settings, actor="test")

    # the documented manual command promotes by hand
    manual = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml.registry",
            "promote",
            "--version",
            str(strong),
            "--reason",
            "test",
        ],
        env=fresh_env(settings),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert manual.returncode == 0, manual.stderr[-3000:]
    assert (
        alias_version(
            MlflowClient(tracking_uri=tracking.tracking_uri(settings)),
            settings.model_name,
            "champion",
        )
        == strong
    )
