"""SparkSession for the project's jobs: master and jars from configuration.

``USERSEGMENTS_SPARK_MASTER`` picks the cluster (default ``local[2]``; a
``spark://host:7077`` master in production). The JVM jars staged by `make jars`
(Spark NLP, JDBC drivers) go on the classpath through ``spark.jars``, never through
``spark.jars.packages``: nothing is resolved from the network when a job starts.
"""

from __future__ import annotations

import os

from usersegments.config import Settings


class JarsMissing(RuntimeError):
    pass


def staged_jars(settings: Settings) -> list[str]:
    jars = sorted(str(p) for p in settings.jars_dir.glob("*.jar"))
    if not jars:
        raise JarsMissing(f"no jars in {settings.jars_dir}: run `make jars` (or `make setup`)")
    return jars


def spark_session(app_name: str, settings: Settings | None = None, master: str | None = None):
    from pyspark.sql import SparkSession

    settings = settings or Settings.from_env()
    master = master or os.environ.get("USERSEGMENTS_SPARK_MASTER", "local[2]")
    return (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.jars", ",".join(staged_jars(settings)))
        .config("spark.driver.memory", os.environ.get("USERSEGMENTS_SPARK_DRIVER_MEMORY", "4g"))
        # loopback unless told otherwise: this machine's only network is local
        .config("spark.driver.host", os.environ.get("USERSEGMENTS_SPARK_DRIVER_HOST", "127.0.0.1"))
        .config("spark.driver.bindAddress", os.environ.get("USERSEGMENTS_SPARK_DRIVER_HOST", "127.0.0.1"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
