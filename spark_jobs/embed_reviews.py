"""Embed review text with Spark NLP.

    spark-submit --jars <staged jars> spark_jobs/embed_reviews.py \
        --lake-dir var/lake --encoder-dir var/models/all-MiniLM-L6-v2 --batch-id <run id>

Reads the cleaned reviews (``lake/clean/reviews.parquet``) and embeds the text
``"<summary>. <review text>"`` with the encoder's Spark NLP model (mean-pooled,
L2-normalised all-MiniLM-L6-v2). Text past the model's 256 wordpieces ([CLS] and
[SEP] included) is truncated, as sentence-transformers does: about the first 190
words of a review count.

Writes
- ``lake/embeddings/reviews/model_version=<v>/batch=<id>/``: review_key, user_key,
  model_name, vector (384 floats). Incremental: reviews that this model version has
  embedded in an earlier batch are skipped, so a rerun embeds nothing new; rerunning
  one batch id overwrites that batch only (dynamic partition overwrite).
- ``lake/embeddings/users/model_version=<v>/``: per user, the normalised mean of the
  vectors of their currently published reviews.

Prints (and with --report writes) a JSON report: reviews embedded and skipped.
Master, jars and resources come from spark-submit; nothing here is machine-specific.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Embed review text with Spark NLP.")
    parser.add_argument("--lake-dir", required=True, help="lake root (clean/ in, embeddings/ out)")
    parser.add_argument("--encoder-dir", required=True, help="built by `make encoder`")
    parser.add_argument("--batch-id", required=True, help="this run's id (a partition)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per ONNX call")
    parser.add_argument("--partitions", type=int, default=0, help="0: one per core (default parallelism)")
    parser.add_argument("--limit", type=int, default=0, help="embed at most this many (0: all)")
    parser.add_argument("--report", help="also write the JSON report to this file")
    return parser.parse_args(argv)


def review_text(functions):
    """The text embedded for a review: summary and body, either may be missing."""
    return functions.concat_ws(". ", functions.col("summary"), functions.col("review_text"))


def embedding_pipeline(encoder_dir: Path, batch_size: int):
    from pyspark.ml import Pipeline
    from sparknlp.annotator import BertSentenceEmbeddings
    from sparknlp.base import DocumentAssembler, EmbeddingsFinisher

    info = json.loads((encoder_dir / "encoder.json").read_text())
    return Pipeline(
        stages=[
            DocumentAssembler().setInputCol("text").setOutputCol("document"),
            BertSentenceEmbeddings.load(str(encoder_dir / info["sparknlp_dir"]))
            .setInputCols(["document"])
            .setOutputCol("sentence_embedding")
            .setBatchSize(batch_size),
            EmbeddingsFinisher()
            .setInputCols(["sentence_embedding"])
            .setOutputCols(["vectors"])
            .setOutputAsVector(False),
        ]
    )


def main(argv: list[str] | None = None) -> dict:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from usersegments.user_vectors import user_text_vectors

    args = parse_args(argv)
    # Airflow run ids hold ':' and '+'; partition folder names should not
    args.batch_id = re.sub(r"[^A-Za-z0-9_.-]", "_", args.batch_id)
    started = time.perf_counter()
    lake = Path(args.lake_dir)
    encoder_dir = Path(args.encoder_dir)
    info = json.loads((encoder_dir / "encoder.json").read_text())
    version = info["model_version"]
    reviews_out = lake / "embeddings" / "reviews"
    users_out = lake / "embeddings" / "users"

    spark = SparkSession.builder.appName("embed_reviews").getOrCreate()
    # overwrite only the partitions written (this batch), never earlier batches
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")

    reviews = spark.read.parquet(str(lake / "clean" / "reviews.parquet")).select(
        "review_key", "user_key", review_text(F).alias("text")
    )
    if args.limit:
        reviews = reviews.orderBy("review_key").limit(args.limit)
    total = reviews.count()

    todo = reviews.where(F.length("text") > 0)
    without_text = total - todo.count()
    if (reviews_out / f"model_version={version}").exists():
        done = (
            spark.read.parquet(str(reviews_out))
            .where((F.col("model_version") == version) & (F.col("batch") != args.batch_id))
            .select("review_key")
        )
        todo = todo.join(done, "review_key", "left_anti")
    todo = todo.cache()
    to_embed = todo.count()

    if to_embed:
        # one partition per core at least: a small input file is one partition,
        # which would leave all but one core idle
        todo = todo.repartition(args.partitions or spark.sparkContext.defaultParallelism)
        # Spark NLP pads each batch to its longest text: batching texts of similar
        # length wastes far less work on padding.
        todo = todo.sortWithinPartitions(F.length("text"))
        embedded = (
            embedding_pipeline(encoder_dir, args.batch_size)
            .fit(todo)
            .transform(todo)
            .select(
                "review_key",
                "user_key",
                F.lit(info["model_name"]).alias("model_name"),
                F.col("vectors")[0].alias("vector"),
                F.lit(version).alias("model_version"),
                F.lit(args.batch_id).alias("batch"),
            )
        )
        embed_started = time.perf_counter()
        embedded.write.mode("overwrite").partitionBy("model_version", "batch").parquet(
            str(reviews_out)
        )
        embed_seconds = time.perf_counter() - embed_started
    else:
        embed_seconds = 0.0

    # Users are recomputed whole: cheap, and right after reviews change or disappear.
    published = spark.read.parquet(str(lake / "clean" / "reviews.parquet")).select("review_key")
    vectors = (
        spark.read.parquet(str(reviews_out))
        .where(F.col("model_version") == version)
        .join(published, "review_key")
        .dropDuplicates(["review_key"])
    )
    users = user_text_vectors(vectors, F).withColumn("model_version", F.lit(version))
    users.write.mode("overwrite").partitionBy("model_version").parquet(str(users_out))

    report = {
        "model_name": info["model_name"],
        "model_version": version,
        "batch": args.batch_id,
        "reviews": total,
        "embedded": to_embed,
        "skipped_already_embedded": total - without_text - to_embed,
        "skipped_without_text": without_text,
        "users": spark.read.parquet(str(users_out / f"model_version={version}")).count(),
        # embedding and writing the vectors, without session start and bookkeeping
        "embed_seconds": round(embed_seconds, 2),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report))
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2))
    spark.stop()
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
