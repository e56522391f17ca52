"""Where MLflow keeps runs, models and the registry.

Embedded default: a SQLite database and a local artifact store under the data folder
(``var/mlflow``). ``Settings.mlflow_tracking_uri`` (``USERSEGMENTS_MLFLOW_TRACKING_URI``)
points everything at a tracking server instead (the registry follows it);
``Settings.model_name`` names the registered model. Not MLflow's own
``MLFLOW_TRACKING_URI``: ``mlflow.set_tracking_uri`` writes that variable, so one
process (or a child of it) would carry an earlier data folder's store into the next.
"""

from __future__ import annotations

from pathlib import Path

from usersegments.config import Settings

EXPERIMENT = "interest_classifier"
# One run per registry decision (alias set or refused): the readable alias history.
REGISTRY_EXPERIMENT = "interest_classifier_registry"


def model_name(settings: Settings) -> str:
    return settings.model_name


def mlflow_dir(settings: Settings) -> Path:
    return settings.data_dir / "mlflow"


def tracking_uri(settings: Settings) -> str:
    return settings.mlflow_tracking_uri or f"sqlite:///{mlflow_dir(settings) / 'mlflow.db'}"


def artifact_root(settings: Settings) -> str:
    return (mlflow_dir(settings) / "artifacts").as_uri()


def configure(settings: Settings):
    """Point this process's MLflow at the project's tracking store and registry;
    returns a client of both."""
    import mlflow
    from mlflow import MlflowClient

    if not settings.mlflow_tracking_uri:
        mlflow_dir(settings).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client, name: str, settings: Settings) -> str:
    """The experiment's id, created on first use with its artifacts under the data folder
    (a tracking server decides its own artifact store)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    server = tracking_uri(settings).startswith(("http://", "https://"))
    location = None if server else f"{artifact_root(settings)}/{name}"
    return client.create_experiment(name, artifact_location=location)


def load_model(settings: Settings, model_uri: str):
    """A registered model as pyfunc, as the gate and the scoring DAG use it. A Spark
    model is given a local session with Arrow first (MLflow's pyfunc takes the active
    session): without Arrow, pandas -> Spark goes row by row, and a 50,000-user batch of
    ~400 columns took about a minute."""
    import mlflow

    if "spark" in mlflow.models.get_model_info(model_uri).flavors:
        from usersegments.spark import spark_session

        spark = spark_session("interest_classifier", settings, jars=False)
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    return mlflow.pyfunc.load_model(model_uri)
