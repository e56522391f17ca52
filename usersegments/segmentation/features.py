"""The per-user feature table and the fusion of its three groups into one vector.

- behaviour, from the users mart: activity, ratings, length, helpfulness, tenure,
  recency (counts and durations log-scaled) and the category shares;
- text: the user's mean review embedding;
- graph: the co-review graph features (log-scaled).

Each group is standardised (text: centred) and scaled so that its total variance
equals its weight squared: a group's pull does not depend on how many columns it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import ElementwiseProduct, Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import Vectors
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from usersegments.segmentation.options import FEATURE_GROUPS

# Behaviour columns of the users mart; counts and durations are heavy-tailed: log1p.
BEHAVIOUR_LOG = (
    "review_count",
    "mean_review_words",
    "helpful_votes",
    "tenure_days",
    "recency_days",
)
# text_share is left out: 99.8% of users have 1, so the few without text would be
# 30-sigma outliers forming their own segment (they get the mean text vector instead).
BEHAVIOUR_LINEAR = ("mean_rating", "rating_stddev", "verified_share")
GRAPH_COLUMNS = ("degree", "weighted_degree", "pagerank", "mean_item_reviewers")
# The raw per-user columns later stages report on (profiles, GX), in their units.
PROFILE_BEHAVIOUR = (
    "review_count",
    "mean_rating",
    "rating_stddev",
    "mean_review_words",
    "verified_share",
    "helpful_votes",
    "text_share",
    "tenure_days",
    "recency_days",
)


def share_columns(users: DataFrame) -> list[str]:
    return sorted(c for c in users.columns if c.startswith("share_"))


def mean_text_vector(text: DataFrame) -> list[float]:
    """The mean of the users' text vectors (``text_array``): what a user without any
    review text gets, so that they are pulled towards no segment."""
    mean = text.agg(Summarizer.mean(array_to_vector("text_array")).alias("m")).first()["m"]
    return [float(x) for x in mean]


def user_table(
    users: DataFrame, graph: DataFrame, text: DataFrame, mean_text: list[float]
) -> DataFrame:
    """One row per user of ``users``: the raw columns, ``text_vector`` (the mean for
    users without text) and one ``f_<column>`` input column per behaviour and graph
    feature, log-scaled where heavy-tailed."""
    table = users.join(graph, "user_key", "left").join(text, "user_key", "left")
    fallback = F.array(*[F.lit(x) for x in mean_text])
    table = table.withColumn(
        "text_vector",
        array_to_vector(F.coalesce(F.col("text_array").cast("array<double>"), fallback)),
    ).drop("text_array")
    inputs = [F.log1p(F.col(c).cast("double")).alias(f"f_{c}") for c in BEHAVIOUR_LOG]
    inputs += [F.col(c).cast("double").alias(f"f_{c}") for c in BEHAVIOUR_LINEAR]
    inputs += [F.col(c).cast("double").alias(f"f_{c}") for c in share_columns(users)]
    inputs += [F.log1p(F.col(c)).alias(f"f_{c}") for c in GRAPH_COLUMNS]
    return table.select("*", *inputs)


@dataclass(frozen=True)
class Fusion:
    """The fitted fusion: the PipelineModel saved with the run, each group's number of
    dimensions, and the name of each dimension of the fused ``features`` vector."""

    model: PipelineModel
    dims: dict[str, int]
    feature_names: list[str]


def input_columns(table: DataFrame) -> dict[str, list[str]]:
    behaviour = [f"f_{c}" for c in (*BEHAVIOUR_LOG, *BEHAVIOUR_LINEAR)]
    behaviour += [c for c in table.columns if c.startswith("f_share_")]
    return {"behaviour": behaviour, "graph": [f"f_{c}" for c in GRAPH_COLUMNS]}


def fit_fusion(table: DataFrame, weights: dict[str, float]) -> Fusion:
    """Fit the fusion: impute, assemble and scale each group, weight it, concatenate."""
    inputs = input_columns(table)
    numeric = inputs["behaviour"] + inputs["graph"]
    stages = [Imputer(strategy="mean", inputCols=numeric, outputCols=numeric)]
    for group, columns in inputs.items():
        stages.append(VectorAssembler(inputCols=columns, outputCol=f"{group}_raw"))
        stages.append(
            StandardScaler(
                inputCol=f"{group}_raw", outputCol=f"{group}_scaled", withMean=True, withStd=True
            )
        )
    # text: centred only, its dimensions keep their relative spread
    stages.append(
        StandardScaler(
            inputCol="text_vector", outputCol="text_scaled", withMean=True, withStd=False
        )
    )
    fitted = Pipeline(stages=stages).fit(table)

    text_std = fitted.stages[-1].std
    dims = {
        "behaviour": len(inputs["behaviour"]),
        "graph": len(inputs["graph"]),
        "text": text_std.size,
    }
    variances = {
        "behaviour": dims["behaviour"],
        "graph": dims["graph"],
        "text": float(sum(s * s for s in text_std.toArray())) or 1.0,
    }
    used = [group for group in FEATURE_GROUPS if weights[group] > 0]
    weighting = [
        ElementwiseProduct(
            scalingVec=Vectors.dense([weights[g] / math.sqrt(variances[g])] * dims[g]),
            inputCol=f"{g}_scaled",
            outputCol=f"{g}_weighted",
        )
        for g in used
    ]
    weighting.append(
        VectorAssembler(inputCols=[f"{g}_weighted" for g in used], outputCol="features")
    )
    names = {
        "behaviour": [c.removeprefix("f_") for c in inputs["behaviour"]],
        "text": [f"text_{i:03d}" for i in range(dims["text"])],
        "graph": [c.removeprefix("f_") for c in inputs["graph"]],
    }
    return Fusion(
        PipelineModel(stages=[*fitted.stages, *weighting]),
        dims,
        [name for group in used for name in names[group]],
    )


# A user's row holds ~800 numbers (fused features and text vector, ~5 KB): 25,000 users
# make a partition of ~125 MB, which a task caches and sorts within its share of a 4 GB
# driver. Fewer partitions at 366,700 users (x100) ran the driver out of heap.
USERS_PER_PARTITION = 25_000


def feature_partitions(users: int, parallelism: int) -> int:
    """Partitions of the fused features: one per core, more when there are more users
    than ``USERS_PER_PARTITION`` per core. (MLlib's K-means|| draws its initial centres
    per partition, so the count is a function of the data size only, never of chance.)"""
    return max(parallelism, math.ceil(users / USERS_PER_PARTITION))


def fused_features(fusion: Fusion, table: DataFrame, partitions: int) -> DataFrame:
    """Every user's fused ``features`` with the raw columns the later stages report on,
    in a fixed partitioning and order: the same input gives the same clusters."""
    keep = ["user_key", "features", "text_vector", *PROFILE_BEHAVIOUR, *GRAPH_COLUMNS]
    fused = fusion.model.transform(table)
    return (
        fused.select(*[c for c in fused.columns if c in keep])
        .repartition(partitions, "user_key")
        .sortWithinPartitions("user_key")
    )
