"""Review text embedded with Spark NLP (the work of spark_jobs/embed_reviews.py).

The text of a review is ``"<summary>. <review text>"``, embedded with the encoder's
Spark NLP model (mean-pooled, L2-normalised all-MiniLM-L6-v2). Text past the model's
256 wordpieces ([CLS] and [SEP] included) is truncated, as sentence-transformers does:
about the first 190 words of a review count.

Writes
- ``lake/embeddings/reviews/model_version=<v>/batch=<id>/``: review_key, user_key,
  model_name, vector (384 floats). Incremental: reviews that this model version has
  embedded in an earlier batch are skipped, so a rerun embeds nothing new; rerunning
  one batch id overwrites that batch only (dynamic partition overwrite).
- ``lake/embeddings/texts/model_version=<v>/batch=<id>/``: text_hash (SHA-256 of the
  text), vector: the encoder's cache. A review whose text this model version has
  embedded before, in any batch or earlier in this one, reuses that vector: real
  reviews repeat ("Five Stars. Great"), and a team's reruns and backfills meet the
  same texts again. Keyed by model version and text, so a new encoder starts afresh.
- ``lake/embeddings/users/model_version=<v>/``: per user, the normalised mean of the
  vectors of their currently published reviews.

Cost: O(new distinct texts x tokens) for the encoder, O(reviews) for the rest.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyspark.ml import Pipeline
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from usersegments.encoder import read_manifest
from usersegments.lake import Lake, partition_name
from usersegments.vectors import user_vectors_from_texts

BATCH_SIZE = 16  # texts per ONNX call: 64 and 256 were slower on 2 cores


def review_text() -> F.Column:
    """The text embedded for a review: summary and body, either may be missing."""
    return F.concat_ws(". ", F.col("summary"), F.col("review_text"))


def text_hash(text: F.Column | str = "text") -> F.Column:
    """The cache key of a text (the model version is the other): SHA-256, hex."""
    return F.sha2(F.col(text) if isinstance(text, str) else text, 256).alias("text_hash")


def embedding_pipeline(encoder_dir: Path, batch_size: int = BATCH_SIZE) -> Pipeline:
    """text -> vectors: Spark NLP's document assembler, the imported encoder, a finisher."""
    from sparknlp.annotator import BertSentenceEmbeddings
    from sparknlp.base import DocumentAssembler, EmbeddingsFinisher

    info = read_manifest(encoder_dir)
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


def not_yet_embedded(
    spark: SparkSession, lake: Lake, reviews: DataFrame, version: str, batch: str
) -> DataFrame:
    """The reviews with text that no other batch of this model version has embedded."""
    todo = reviews.where(F.length("text") > 0)
    if not lake.review_vectors(version).exists():
        return todo
    done = (
        spark.read.parquet(str(lake.review_vectors()))
        .where((F.col("model_version") == version) & (F.col("batch") != batch))
        .select("review_key")
    )
    return todo.join(done, "review_key", "left_anti")


def cached_text_hashes(spark: SparkSession, lake: Lake, version: str, batch: str) -> DataFrame:
    """(text_hash) of the texts other batches of this model version have embedded."""
    if not lake.text_vectors(version).exists():
        return spark.createDataFrame([], "text_hash string")
    return (
        spark.read.parquet(str(lake.text_vectors()))
        .where((F.col("model_version") == version) & (F.col("batch") != batch))
        .select("text_hash")
    )


def text_vectors(spark: SparkSession, lake: Lake, version: str) -> DataFrame:
    """(text_hash, vector) of every batch of this model version, each hash once (a
    join on it is then O(reviews))."""
    return (
        spark.read.parquet(str(lake.text_vectors()))
        .where(F.col("model_version") == version)
        .select("text_hash", "vector")
        .dropDuplicates(["text_hash"])
    )


def embedded_review_texts(spark: SparkSession, lake: Lake, version: str) -> DataFrame:
    """(review_key, user_key, text_hash) of every published review this model version
    has a vector of (earlier batches included)."""
    embedded = spark.read.parquet(str(lake.review_vectors(version))).select("review_key")
    return (
        spark.read.parquet(str(lake.clean("reviews")))
        .join(embedded, "review_key", "left_semi")
        .select("review_key", "user_key", text_hash(review_text()))
    )


def user_vectors(
    spark: SparkSession, lake: Lake, version: str, only: DataFrame | None = None
) -> DataFrame:
    """(user_key, review_count, vector): each user's mean over the published reviews
    this model version embedded, or over those of them in ``only`` (review_key)."""
    reviews = embedded_review_texts(spark, lake, version)
    if only is not None:
        reviews = reviews.join(only.select("review_key"), "review_key", "left_semi")
    texts = spark.read.parquet(str(lake.text_vectors(version))).count()
    return user_vectors_from_texts(reviews, text_vectors(spark, lake, version), texts)


def texts_to_encode(todo: DataFrame, cached: DataFrame) -> DataFrame:
    """(text_hash, text): each distinct text of ``todo`` once, unless cached."""
    return (
        todo.select("text_hash", "text")
        .dropDuplicates(["text_hash"])
        .join(cached, "text_hash", "left_anti")
    )


def encode(texts: DataFrame, encoder_dir: Path, partitions: int, batch_size: int) -> DataFrame:
    """(text_hash, vector) of ``texts`` through the encoder."""
    # one partition per core at least: a small input file is one partition, which
    # would leave all but one core idle; Spark NLP pads each batch to its longest
    # text, so texts of similar length are batched together
    spread = texts.repartition(partitions).sortWithinPartitions(F.length("text"))
    return (
        embedding_pipeline(encoder_dir, batch_size)
        .fit(spread)
        .transform(spread)
        .select("text_hash", F.col("vectors")[0].alias("vector"))
    )


def write_batch(frame: DataFrame, folder: Path, version: str, batch: str) -> None:
    """Dynamic partition overwrite: this batch's partition only, never earlier batches."""
    frame.withColumn("model_version", F.lit(version)).withColumn("batch", F.lit(batch)).write.mode(
        "overwrite"
    ).option("partitionOverwriteMode", "dynamic").partitionBy("model_version", "batch").parquet(
        str(folder)
    )


def embed_reviews(
    spark: SparkSession,
    lake: Lake,
    encoder_dir: Path,
    batch_id: str,
    batch_size: int = BATCH_SIZE,
    partitions: int = 0,
    limit: int = 0,
) -> dict:
    """Embed the published reviews no batch has embedded yet, then recompute every
    user's vector; returns the report (reviews embedded and skipped, seconds)."""
    started = time.perf_counter()
    info = read_manifest(encoder_dir)
    version, batch = info["model_version"], partition_name(batch_id)
    reviews = spark.read.parquet(str(lake.clean("reviews"))).select(
        "review_key", "user_key", review_text().alias("text")
    )
    if limit:
        reviews = reviews.orderBy("review_key").limit(limit)
    total = reviews.count()
    without_text = total - reviews.where(F.length("text") > 0).count()
    todo = (
        not_yet_embedded(spark, lake, reviews, version, batch)
        .withColumn("text_hash", text_hash())
        .cache()
    )
    to_embed = todo.count()
    cached = cached_text_hashes(spark, lake, version, batch)
    texts = texts_to_encode(todo, cached).cache()
    encoded = texts.count()
    embed_started = time.perf_counter()
    if encoded:
        vectors = encode(
            texts, encoder_dir, partitions or spark.sparkContext.defaultParallelism, batch_size
        )
        write_batch(vectors, lake.text_vectors(), version, batch)
    encode_seconds = time.perf_counter() - embed_started
    if to_embed:
        review_vectors = todo.join(text_vectors(spark, lake, version), "text_hash").select(
            "review_key", "user_key", F.lit(info["model_name"]).alias("model_name"), "vector"
        )
        write_batch(review_vectors, lake.review_vectors(), version, batch)
    embed_seconds = time.perf_counter() - embed_started
    # Users are recomputed whole: O(reviews) without moving a vector (see vectors.py),
    # and right after reviews change or disappear.
    users = user_vectors(spark, lake, version)
    users.withColumn("model_version", F.lit(version)).write.mode("overwrite").option(
        "partitionOverwriteMode", "dynamic"
    ).partitionBy("model_version").parquet(str(lake.user_vectors()))
    return {
        "model_name": info["model_name"],
        "model_version": version,
        "batch": batch,
        "reviews": total,
        "embedded": to_embed,
        "texts_encoded": encoded,
        "reused_from_cache": to_embed - encoded,
        "skipped_already_embedded": total - without_text - to_embed,
        "skipped_without_text": without_text,
        "users": spark.read.parquet(str(lake.user_vectors(version))).count(),
        # embedding and writing the vectors, without session start and bookkeeping
        "embed_seconds": round(embed_seconds, 2),
        "encode_seconds": round(encode_seconds, 2),
        "seconds": round(time.perf_counter() - started, 1),
    }
