"""Spark reads the cleaned tables the pipeline leaves in the lake, with the jars that
`make setup` staged from Maven Central on its classpath."""

from __future__ import annotations

from usersegments.config import Settings
from usersegments.spark import spark_session
from usersegments.warehouse import table_counts


def test_spark_reads_the_clean_lake_with_the_staged_jars(full_run):
    spark = spark_session(
        "test-lake", Settings(full_run.settings.data_dir, full_run.settings.source_dir)
    )
    try:
        counts = table_counts(full_run.settings, ["reviews", "users"])
        for table, count in counts.items():
            frame = spark.read.parquet(
                str(full_run.settings.lake_dir / "clean" / f"{table}.parquet")
            )
            assert frame.count() == count
        assert "user_key" in frame.columns and "review_count" in frame.columns
        # Spark NLP's classes resolve from the staged jars (no download at start-up)
        jvm = spark.sparkContext._jvm
        assert jvm.com.johnsnowlabs.nlp.DocumentAssembler().uid().startswith("document")
    finally:
        spark.stop()
