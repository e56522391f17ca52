"""Spark configuration of the project's jobs, for in-process sessions and spark-submit.

``Settings.spark`` picks the cluster (default ``local[2]``; a ``spark://host:7077``
master in production) and the resources. The JVM jars staged by `make jars` (Spark NLP,
JDBC drivers) go on the classpath through ``spark.jars`` / ``--jars``, never
``spark.jars.packages``: nothing is resolved from the network when a job starts.

GPU: ``USERSEGMENTS_SPARK_GPU=1`` switches to the jars of ``make jars GPU=1``
(the spark-nlp-gpu artifact, in ``var/jars-gpu``) and asks Spark for GPUs: one per
executor and per task, found by the discovery script in
``USERSEGMENTS_GPU_DISCOVERY_SCRIPT`` (Spark ships one as
``examples/src/main/scripts/getGpusResources.sh`` in its distribution). The CPU path
is the default.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from usersegments.config import PROJECT_DIR, Settings

SPARK_JOBS_DIR = PROJECT_DIR / "spark_jobs"
# SparkSettings.quick_jit: C1, the quick compiler, and never C2
QUICK_JIT = "-XX:TieredStopAtLevel=1"


class JarsMissing(RuntimeError):
    pass


def jars_dir(settings: Settings) -> Path:
    jars = settings.jars_dir
    return jars.with_name(jars.name + "-gpu") if settings.spark.gpu else jars


def staged_jars(settings: Settings) -> list[str]:
    folder = jars_dir(settings)
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        target = "make jars GPU=1" if settings.spark.gpu else "make jars"
        raise JarsMissing(f"no jars in {folder}: run `{target}`")
    return jars


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of every job (master and jars apart)."""
    spark = settings.spark
    settings.jvm_tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    jit = f" {QUICK_JIT}" if spark.quick_jit else ""
    conf = {
        "spark.driver.memory": spark.driver_memory,
        "spark.executor.memory": spark.executor_memory,
        "spark.driver.host": spark.driver_host,
        "spark.driver.bindAddress": spark.driver_host,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(spark.shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "512m",
        # Spark NLP's default of 6 ONNX threads per task oversubscribes small machines
        "spark.jsl.settings.onnx.intraOpNumThreads": str(spark.onnx_threads),
        # Hadoop sets file modes itself (default umask 022): the lake is the owner's alone
        "spark.hadoop.fs.permissions.umask-mode": "077",
        # the driver's only: a cluster's workers keep their own temporary folders
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={settings.jvm_tmp_dir}{jit}",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    if spark.quick_jit:
        conf["spark.executor.extraJavaOptions"] = QUICK_JIT
    if spark.gpu:
        conf.update(
            {
                "spark.executor.resource.gpu.amount": "1",
                "spark.task.resource.gpu.amount": "1",
                "spark.executor.resource.gpu.discoveryScript": spark.gpu_discovery_script,
                "spark.jsl.settings.onnx.gpuDeviceId": "0",
            }
        )
    return conf


def spark_env() -> dict[str, str]:
    """Environment for spark-submit and spark-class: Spark is the pyspark package
    (its launch scripts otherwise look for it with whatever python3 is on PATH)."""
    import pyspark

    return {"SPARK_HOME": str(Path(pyspark.__file__).parent), "PYSPARK_PYTHON": sys.executable}


def spark_session(
    app_name: str,
    settings: Settings,
    master: str | None = None,
    jars: bool = True,
    extra_conf: dict[str, str] | None = None,
):
    """A session in this process (classifier training, tests, benchmarks, `make encoder`);
    ``jars``: the staged jars on its classpath (Spark NLP needs them, MLlib does not)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(master or settings.spark.master)
    conf = {**spark_conf(settings), **(extra_conf or {})}
    if jars:
        conf["spark.jars"] = ",".join(staged_jars(settings))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def submit_command(
    application: Path, args: list[str], settings: Settings, master: str | None = None
) -> list[str]:
    """The spark-submit command line of a job in spark_jobs/ (tests, benchmarks);
    run it with spark_env() in its environment."""
    command = [str(Path(sys.executable).with_name("spark-submit"))]
    command += ["--master", master or settings.spark.master, "--name", application.stem]
    command += ["--jars", ",".join(staged_jars(settings))]
    for key, value in spark_conf(settings).items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(application), *args]


def onnx_model_copies(jvm_tmp_dir: Path) -> list[Path]:
    """The folders Spark NLP copied an ONNX model into (``<uuid>_onnx``,
    ``<uuid>_bert_sentence_onnx``...): read once when the model loads, then unused."""
    return [path for path in jvm_tmp_dir.glob("*_onnx*") if path.is_dir()]


def run_job(app_name: str, checkpoint_dir: Path, work, report_path: str | None = None) -> dict:
    """A spark-submit job's body: a session (master, jars and conf come from
    spark-submit), ``work(spark) -> report``, the report printed as JSON (and written to
    ``report_path``), the session stopped whatever happens and the ONNX model copies
    it left behind removed (one embedding job runs at a time: the pipeline DAG's
    max_active_runs is 1, so no other job's copy is taken)."""
    import json

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(app_name).getOrCreate()
    spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
    jvm_tmp_dir = Path(spark.sparkContext._jvm.System.getProperty("java.io.tmpdir"))
    model_copies_before = set(onnx_model_copies(jvm_tmp_dir))
    try:
        report = work(spark)
    finally:
        spark.stop()
        for leaked in set(onnx_model_copies(jvm_tmp_dir)) - model_copies_before:
            shutil.rmtree(leaked, ignore_errors=True)
    print(json.dumps(report, default=str))
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(json.dumps(report, indent=2, default=str))
    return report
