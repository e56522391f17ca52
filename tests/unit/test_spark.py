"""What the GPU setting and the Spark master setting choose (no GPU needed)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from usersegments.airflow_cli import spark_connection
from usersegments.config import PROJECT_DIR, Settings
from usersegments.spark import JarsMissing, jars_dir, onnx_model_copies, spark_conf, staged_jars

POM = "{http://maven.apache.org/POM/4.0.0}"


def test_cpu_is_the_default():
    settings = Settings.from_env({})
    assert not settings.spark.gpu and settings.spark.master == "local[2]"
    conf = spark_conf(settings)
    assert not any(".resource.gpu." in key for key in conf)
    assert conf["spark.jsl.settings.onnx.intraOpNumThreads"] == "1"


def test_gpu_setting_switches_resources_and_jars(tmp_path):
    environ = {
        "USERSEGMENTS_SPARK_GPU": "1",
        "USERSEGMENTS_GPU_DISCOVERY_SCRIPT": "/opt/gpu/discover.sh",
        "USERSEGMENTS_JARS_DIR": str(tmp_path / "jars"),
    }
    settings = Settings.from_env(environ)
    conf = spark_conf(settings)
    assert conf["spark.executor.resource.gpu.amount"] == "1"
    assert conf["spark.task.resource.gpu.amount"] == "1"
    assert conf["spark.executor.resource.gpu.discoveryScript"] == "/opt/gpu/discover.sh"

    assert jars_dir(settings) == tmp_path / "jars-gpu"
    with pytest.raises(JarsMissing, match="make jars GPU=1"):
        staged_jars(settings)
    (tmp_path / "jars-gpu").mkdir()
    (tmp_path / "jars-gpu" / "spark-nlp-gpu_2.12-5.5.3.jar").touch()
    assert staged_jars(settings) == [str(tmp_path / "jars-gpu" / "spark-nlp-gpu_2.12-5.5.3.jar")]


def test_gpu_profile_uses_the_gpu_artifact_of_the_same_version():
    root = ET.parse(PROJECT_DIR / "jvm" / "pom.xml").getroot()
    artifacts = {}
    for profile in root.iter(f"{POM}profile"):
        dependency = profile.find(f"{POM}dependencies/{POM}dependency")
        artifacts[profile.findtext(f"{POM}id")] = (
            dependency.findtext(f"{POM}artifactId"),
            dependency.findtext(f"{POM}version"),
        )
    assert artifacts["cpu"] == ("spark-nlp_2.12", "5.5.3")
    assert artifacts["gpu"] == ("spark-nlp-gpu_2.12", "5.5.3")


def test_spark_master_becomes_the_airflow_connection():
    assert json.loads(spark_connection("spark://10.1.2.3:7077")) == {
        "conn_type": "spark",
        "host": "spark://10.1.2.3",
        "port": 7077,
    }
    assert json.loads(spark_connection("local[2]")) == {"conn_type": "spark", "host": "local[2]"}


def test_the_driver_jvm_keeps_its_temporary_files_beside_the_data(tmp_path):
    settings = Settings.from_env({"USERSEGMENTS_DATA_DIR": str(tmp_path / "var")})
    conf = spark_conf(settings)
    assert conf["spark.driver.extraJavaOptions"] == f"-Djava.io.tmpdir={tmp_path}/var/tmp/jvm"
    # the JVM does not create its tmpdir: a missing one fails the first temporary file
    assert (tmp_path / "var" / "tmp" / "jvm").is_dir()
    assert (tmp_path / "var" / "tmp" / "jvm").stat().st_mode & 0o777 == 0o700


def test_quick_jit_stops_driver_and_executors_at_the_quick_compiler(tmp_path):
    default = spark_conf(Settings.from_env({"USERSEGMENTS_DATA_DIR": str(tmp_path)}))
    assert "TieredStopAtLevel" not in default["spark.driver.extraJavaOptions"]
    assert "spark.executor.extraJavaOptions" not in default
    quick = {"USERSEGMENTS_DATA_DIR": str(tmp_path), "USERSEGMENTS_SPARK_QUICK_JIT": "1"}
    conf = spark_conf(Settings.from_env(quick))
    assert conf["spark.driver.extraJavaOptions"] == (
        f"-Djava.io.tmpdir={tmp_path}/tmp/jvm -XX:TieredStopAtLevel=1"
    )
    assert conf["spark.executor.extraJavaOptions"] == "-XX:TieredStopAtLevel=1"


def test_onnx_model_copies_are_the_folders_spark_nlp_leaves(tmp_path):
    for name in ["1f2e_onnx", "9a8b_bert_sentence_onnx", "blockmgr-1", "liblz4.so"]:
        (tmp_path / name).mkdir() if not name.endswith(".so") else (tmp_path / name).touch()
    (tmp_path / "3c4d_onnx_data").touch()
    found = sorted(path.name for path in onnx_model_copies(tmp_path))
    assert found == ["1f2e_onnx", "9a8b_bert_sentence_onnx"]
