"""Spark configuration of the project's jobs, for in-process sessions and spark-submit.

``USERSEGMENTS_SPARK_MASTER`` picks the cluster (default ``local[2]``; a
``spark://host:7077`` master in production). The JVM jars staged by `make jars`
(Spark NLP, JDBC drivers) go on the classpath through ``spark.jars`` / ``--jars``,
never ``spark.jars.packages``: nothing is resolved from the network when a job starts.

GPU: ``USERSEGMENTS_SPARK_GPU=1`` switches to the jars of ``make jars GPU=1``
(the spark-nlp-gpu artifact, in ``var/jars-gpu``) and asks Spark for GPUs: one per
executor and per task, found by the discovery script in
``USERSEGMENTS_GPU_DISCOVERY_SCRIPT`` (Spark ships one as
``examples/src/main/scripts/getGpusResources.sh`` in its distribution). The CPU path
is the default.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from usersegments.config import PROJECT_DIR, Settings


class JarsMissing(RuntimeError):
    pass


def gpu_enabled() -> bool:
    return os.environ.get("USERSEGMENTS_SPARK_GPU", "0").lower() in {"1", "true", "yes"}


def spark_master() -> str:
    return os.environ.get("USERSEGMENTS_SPARK_MASTER", "local[2]")


def jars_dir(settings: Settings, gpu: bool) -> Path:
    return settings.jars_dir.with_name(settings.jars_dir.name + "-gpu") if gpu else settings.jars_dir


def staged_jars(settings: Settings, gpu: bool | None = None) -> list[str]:
    gpu = gpu_enabled() if gpu is None else gpu
    folder = jars_dir(settings, gpu)
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        target = "make jars GPU=1" if gpu else "make jars"
        raise JarsMissing(f"no jars in {folder}: run `{target}`")
    return jars


def spark_conf(gpu: bool | None = None) -> dict[str, str]:
    """Spark settings of every job (master and jars apart)."""
    gpu = gpu_enabled() if gpu is None else gpu
    driver_host = os.environ.get("USERSEGMENTS_SPARK_DRIVER_HOST", "127.0.0.1")
    conf = {
        "spark.driver.memory": os.environ.get("USERSEGMENTS_SPARK_DRIVER_MEMORY", "4g"),
        "spark.executor.memory": os.environ.get("USERSEGMENTS_SPARK_EXECUTOR_MEMORY", "2g"),
        # loopback unless told otherwise: on a cluster, set a host the workers reach
        "spark.driver.host": driver_host,
        "spark.driver.bindAddress": driver_host,
        "spark.sql.session.timeZone": "UTC",
        # the data is small next to Spark's default of 200 shuffle partitions, whose
        # per-partition overhead dominated the graph stage (on a cluster: raise it)
        "spark.sql.shuffle.partitions": os.environ.get(
            "USERSEGMENTS_SPARK_SHUFFLE_PARTITIONS", "8"
        ),
        "spark.ui.showConsoleProgress": "false",
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "512m",
        # ONNX Runtime threads per Spark task: one task per core already uses the cores
        # (Spark NLP's default of 6 threads per task oversubscribes small machines)
        "spark.jsl.settings.onnx.intraOpNumThreads": os.environ.get(
            "USERSEGMENTS_ONNX_THREADS", "1"
        ),
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    if gpu:
        conf.update(
            {
                "spark.executor.resource.gpu.amount": "1",
                "spark.task.resource.gpu.amount": "1",
                "spark.executor.resource.gpu.discoveryScript": os.environ.get(
                    "USERSEGMENTS_GPU_DISCOVERY_SCRIPT", "/opt/spark/getGpusResources.sh"
                ),
                "spark.jsl.settings.onnx.gpuDeviceId": "0",
            }
        )
    return conf


def spark_env() -> dict[str, str]:
    """Environment for spark-submit and spark-class: Spark is the pyspark package
    (its launch scripts otherwise look for it with whatever python3 is on PATH)."""
    import pyspark

    return {"SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable}


def spark_session(app_name: str, settings: Settings | None = None, master: str | None = None):
    """A session in this process (tests, benchmarks, `make encoder`)."""
    from pyspark.sql import SparkSession

    settings = settings or Settings.from_env()
    builder = SparkSession.builder.appName(app_name).master(master or spark_master())
    for key, value in {**spark_conf(), "spark.jars": ",".join(staged_jars(settings))}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def submit_command(
    application: Path, args: list[str], settings: Settings, master: str | None = None
) -> list[str]:
    """The spark-submit command line of a job in spark_jobs/ (tests, benchmarks);
    run it with spark_env() in its environment."""
    command = [str(Path(sys.executable).with_name("spark-submit")), "--master", master or spark_master()]
    command += ["--name", application.stem, "--jars", ",".join(staged_jars(settings))]
    for key, value in spark_conf().items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(application), *args]


SPARK_JOBS_DIR = PROJECT_DIR / "spark_jobs"
