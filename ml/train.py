"""Train and compare interest classifiers; track every candidate in MLflow; register
the best as the ``challenger``.

    python -m ml.train [--segmentation-run-id RUN] [--pipeline-run-id RUN]

Candidates, all on the same users (ml.data: stratified split by user, fixed seed):
scikit-learn logistic regression, random forest and linear SVM, and Spark MLlib
logistic regression (the path that scales past one machine). A majority-class
baseline is logged beside them, never registered. Each candidate is a nested MLflow
run with its parameters, held-out scores (accuracy; macro and weighted precision,
recall, F1; per class), confusion matrix, model with signature and input example,
the training and evaluation users as MLflow dataset inputs, the code version and the
segmentation run it used.

At scale: the split is made and written in Spark (ml.data), every candidate is scored
on the held-out users a batch at a time, and scikit-learn, which needs the training
users in one process, runs only up to SINGLE_MACHINE_MAX_USERS of them (the skip is
logged); the baseline and MLlib run at every size.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ml import tracking
from ml.data import LABEL, ROLES, SEED, TEST_SHARE, Split, write_split
from ml.metrics import confusion_figure, metrics_from_confusion
from usersegments.config import PROJECT_DIR, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    name: str
    flavor: str  # "sklearn" or "spark"
    build: Callable[[], Any]
    # classes MLflow's skops format must be told to trust when saving and loading
    skops_trusted_types: tuple[str, ...] = ()


def sklearn_candidates() -> list[Candidate]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    # The fused vector scales whole groups (the 384 text dimensions share one unit of
    # variance): the linear models standardise each column again. Classes are weighted
    # by inverse frequency: the rarest interest has ~1% of the users.
    return [
        Candidate(
            "logistic_regression",
            "sklearn",
            lambda: make_pipeline(
                StandardScaler(), LogisticRegression(C=0.05, max_iter=3000, class_weight="balanced")
            ),
        ),
        Candidate(
            "random_forest",
            "sklearn",
            lambda: RandomForestClassifier(
                n_estimators=300,
                min_samples_leaf=2,
                class_weight="balanced_subsample",
                random_state=SEED,
                n_jobs=2,
            ),
            # our own fitted trees (skops distrusts tree node arrays from unknown files)
            ("sklearn.tree._tree.Tree",),
        ),
        Candidate(
            "linear_svm",
            "sklearn",
            lambda: make_pipeline(
                StandardScaler(), LinearSVC(C=0.005, class_weight="balanced", random_state=SEED)
            ),
        ),
    ]


BASELINE = "majority_baseline"


def majority_baseline(split: Split):
    """Predicts the commonest training interest for everyone. The class comes from the
    split's counts (Spark), so the baseline needs no training frame at any size."""
    from sklearn.dummy import DummyClassifier

    example = split.example()
    majority = split.majority_class
    return DummyClassifier(strategy="constant", constant=majority).fit(
        example, [majority] * len(example)
    )


# scikit-learn fits in one process on a matrix in memory (a forest of 300 trees took
# most of the step at 3,667 users): above this many training users only the baseline
# and the MLlib path, which scales out, are fitted; the skip is logged.
SINGLE_MACHINE_MAX_USERS = 100_000


def runnable(candidates: list[Candidate], train_users: int) -> tuple[list[Candidate], str | None]:
    """The candidates to fit at this size, and why the others are skipped (or None)."""
    if train_users <= SINGLE_MACHINE_MAX_USERS:
        return candidates, None
    return [], (
        f"{', '.join(c.name for c in candidates)} skipped: {train_users:,} training users, "
        f"above {SINGLE_MACHINE_MAX_USERS:,} for single-machine scikit-learn"
    )


def code_version() -> str:
    """The git commit of the code that trained (with -dirty for uncommitted changes)."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        from importlib.metadata import version

        return f"usersegments-{version('usersegments')}"


def pip_requirements(flavor: str) -> list[str]:
    """The model's serving requirements, pinned to what trained it (given, not inferred:
    MLflow's inference loads each model in a subprocess, ~20 s a candidate)."""
    from importlib.metadata import version

    packages = ["mlflow", "numpy", "pandas", "scikit-learn", "skops"]
    if flavor == "spark":
        packages.append("pyspark")
    return [f"{package}=={version(package)}" for package in packages]


def simple_params(estimator) -> dict[str, Any]:
    """The estimator's parameters that MLflow can record (no nested estimators)."""
    return {
        k: v
        for k, v in estimator.get_params(deep=True).items()
        if v is None or isinstance(v, (str, int, float, bool))
    }


def fit_spark_logistic_regression(spark, split: Split):
    """MLlib multinomial logistic regression on the training users as the lake holds
    them: a PipelineModel from the named feature columns to the label string (pyfunc's
    "prediction")."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import IndexToString, StringIndexer, VectorAssembler

    columns = split.feature_columns
    train = spark.read.parquet(str(split.part("train"))).select(*columns, LABEL)
    params = {
        "family": "multinomial",
        "regParam": 0.05,
        "elasticNetParam": 0.0,
        "maxIter": 200,
        "standardization": True,
    }
    assemble = VectorAssembler(inputCols=columns, outputCol="features")
    classify = LogisticRegression(
        featuresCol="features",
        labelCol="label_index",
        predictionCol="label_index_predicted",
        **params,
    )
    # pyfunc serves the column named "prediction": make it the label string
    name_label = IndexToString(
        inputCol="label_index_predicted", outputCol="prediction", labels=split.classes
    )
    index_label = StringIndexer(
        inputCol=LABEL, outputCol="label_index", stringOrderType="alphabetAsc"
    )
    fitted = Pipeline(stages=[assemble, index_label, classify, name_label]).fit(train)
    # the label indexer is for training only: scoring input carries no label
    serving = PipelineModel(stages=[fitted.stages[0], fitted.stages[2], fitted.stages[3]])

    def predict(frame: pd.DataFrame) -> list[str]:
        scored = serving.transform(spark.createDataFrame(frame[columns]))
        return [row["prediction"] for row in scored.select("prediction").collect()]

    return serving, params, predict


def log_candidate(
    name: str,
    flavor: str,
    model,
    params: dict[str, Any],
    predict: Callable[[pd.DataFrame], Any],
    fit_seconds: float,
    split: Split,
    datasets: tuple,
    tags: dict[str, str],
    skops_trusted_types: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One nested MLflow run: the candidate's parameters, scores, confusion matrix, model."""
    import mlflow
    from mlflow.models import infer_signature

    with mlflow.start_run(run_name=name, nested=True, tags={**tags, "candidate": name}) as run:
        mlflow.log_params({"candidate": name, "flavor": flavor, **params})
        train_set, test_set = datasets
        mlflow.log_input(train_set, context="training")
        mlflow.log_input(test_set, context="evaluation")
        matrix = split.heldout_confusion(predict)
        scores = metrics_from_confusion(matrix, split.classes)
        mlflow.log_metrics({**scores, "fit_seconds": fit_seconds})
        figure = confusion_figure(matrix, split.classes, f"{name}: held-out users")
        mlflow.log_figure(figure, "confusion_matrix.png")
        example = split.example()
        signature = infer_signature(example, pd.Series(list(predict(example)), name="prediction"))
        if flavor == "spark":
            info = mlflow.spark.log_model(
                model,
                artifact_path="model",
                signature=signature,
                input_example=example,
                pip_requirements=pip_requirements(flavor),
            )
        else:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                skops_trusted_types=list(skops_trusted_types) or None,
                pip_requirements=pip_requirements(flavor),
            )
        return {
            "name": name,
            "flavor": flavor,
            "run_id": run.info.run_id,
            "model_uri": info.model_uri,
            **scores,
        }


def train(
    settings: Settings,
    segmentation_run_id: str | None = None,
    pipeline_run_id: str | None = None,
    include_spark: bool = True,
) -> dict[str, Any]:
    """Split the run's users, fit and log every candidate; register the best (macro F1
    on the held-out users) and point the ``challenger`` alias at it. Returns the
    candidates' scores and the registered version."""
    from usersegments.spark import spark_session

    # MLlib only: no jars on the classpath (they are for Spark NLP)
    spark = spark_session("train_interest_classifier", settings, jars=False)
    # pandas -> Spark through Arrow when the MLlib model scores a held-out batch
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    try:
        split = write_split(spark, settings, segmentation_run_id)
        return fit_and_register(spark, settings, split, pipeline_run_id, include_spark)
    finally:
        spark.stop()


def split_datasets(split: Split) -> tuple:
    """The training and held-out users as MLflow dataset inputs: their lake folders,
    schema, and a digest of the split. Metadata only: MLflow's Spark dataset counts the
    rows through Python at every ``log_input`` (5 s a call, and the job runs on)."""
    import hashlib

    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.spark_dataset_source import SparkDatasetSource
    from mlflow.models import infer_signature

    schema = infer_signature(split.example()).inputs
    datasets = []
    for role in ROLES:
        described = json.dumps([split.segmentation_run_id, role, split.users[role]])
        datasets.append(
            MetaDataset(
                SparkDatasetSource(path=split.part(role).as_uri()),
                name=f"users_{role}_{split.segmentation_run_id}",
                digest=hashlib.sha256(described.encode()).hexdigest()[:8],
                schema=schema,
            )
        )
    return tuple(datasets)


def fit_and_register(
    spark, settings: Settings, split: Split, pipeline_run_id: str | None, include_spark: bool
) -> dict[str, Any]:
    import matplotlib.pyplot as plt
    import mlflow

    from ml.registry import set_alias

    client = tracking.configure(settings)
    datasets = split_datasets(split)
    version = code_version()
    tags = {
        "segmentation_run_id": split.segmentation_run_id,
        "pipeline_run_id": pipeline_run_id or "",
        "code_version": version,
        "mlflow.source.git.commit": version.removesuffix("-dirty"),
    }
    mlflow.set_experiment(
        experiment_id=tracking.experiment_id(client, tracking.EXPERIMENT, settings)
    )
    results: list[dict[str, Any]] = []
    with mlflow.start_run(run_name=f"train {split.segmentation_run_id}", tags=tags) as parent:
        mlflow.log_params(
            {
                "segmentation_run_id": split.segmentation_run_id,
                "label": "users.primary_category",
                "features": len(split.feature_columns),
                "train_users": split.size("train"),
                "heldout_users": split.size("heldout"),
                "test_share": TEST_SHARE,
                "seed": SEED,
                "classes": ",".join(split.classes),
                "excluded_classes": json.dumps(split.excluded_classes)
                if split.excluded_classes
                else "none",
                "split": split.folder,
            }
        )
        baseline_model = majority_baseline(split)
        results.append(
            log_candidate(
                BASELINE,
                "sklearn",
                baseline_model,
                simple_params(baseline_model),
                baseline_model.predict,
                0.0,
                split,
                datasets,
                tags,
            )
        )
        candidates, skipped = runnable(sklearn_candidates(), split.size("train"))
        if skipped:
            log.warning(skipped)
            mlflow.set_tag("skipped_candidates", skipped)
        train = split.frame("train") if candidates else None
        for candidate in candidates:
            model = candidate.build()
            started = time.perf_counter()
            model.fit(split.x(train), train[LABEL])
            seconds = time.perf_counter() - started
            results.append(
                log_candidate(
                    candidate.name,
                    "sklearn",
                    model,
                    simple_params(model),
                    model.predict,
                    seconds,
                    split,
                    datasets,
                    tags,
                    candidate.skops_trusted_types,
                )
            )
            plt.close("all")
        del train
        if include_spark:
            started = time.perf_counter()
            model, params, predict = fit_spark_logistic_regression(spark, split)
            seconds = time.perf_counter() - started
            results.append(
                log_candidate(
                    "spark_logistic_regression",
                    "spark",
                    model,
                    params,
                    predict,
                    seconds,
                    split,
                    datasets,
                    tags,
                )
            )
            plt.close("all")

        contenders = [r for r in results if r["name"] != BASELINE]
        best = max(contenders, key=lambda r: r["macro_f1"])  # first listed wins a tie
        baseline = next(r for r in results if r["name"] == BASELINE)
        mlflow.log_metrics(
            {"best_macro_f1": best["macro_f1"], "baseline_macro_f1": baseline["macro_f1"]}
        )
        mlflow.set_tag("best_candidate", best["name"])

    registered = mlflow.register_model(
        best["model_uri"],
        tracking.model_name(settings),
        tags={
            **tags,
            "candidate": best["name"],
            "training_run_id": best["run_id"],
            "macro_f1": f"{best['macro_f1']:.4f}",
        },
    )
    set_alias(
        settings,
        "challenger",
        registered.version,
        actor=f"ml.train ({pipeline_run_id or 'manual'})",
        action="register",
        reason=f"best of {len(contenders)} candidates by held-out macro F1",
        metrics={
            "challenger_macro_f1": best["macro_f1"],
            "baseline_macro_f1": baseline["macro_f1"],
        },
    )
    summary_columns = ["name", "accuracy", "macro_f1", "weighted_f1"]
    return {
        "segmentation_run_id": split.segmentation_run_id,
        "parent_run_id": parent.info.run_id,
        "model_name": tracking.model_name(settings),
        "challenger_version": int(registered.version),
        "best_candidate": best["name"],
        "baseline_macro_f1": baseline["macro_f1"],
        "candidates": [{k: r[k] for k in summary_columns} for r in results],
        "train_users": split.size("train"),
        "heldout_users": split.size("heldout"),
    }


def train_if_possible(settings: Settings, **kwargs) -> dict[str, Any]:
    """``train``, or ``{"skipped": reason}`` when the data has fewer than two interests
    to learn (e.g. one source file): the segments are published all the same."""
    from ml.data import NotEnoughClasses

    try:
        return train(settings, **kwargs)
    except NotEnoughClasses as reason:
        print(f"interest classifier not trained: {reason}")
        return {"skipped": str(reason)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train, compare and register the interest classifier."
    )
    parser.add_argument("--segmentation-run-id", help="default: the newest segmentation run")
    parser.add_argument("--pipeline-run-id")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark MLlib candidate")
    args = parser.parse_args(argv)
    report = train(
        Settings.from_env(), args.segmentation_run_id, args.pipeline_run_id, not args.no_spark
    )
    print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
