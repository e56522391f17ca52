"""Implicit-feedback matrix factorisation, Spark MLlib's ALS (Hu, Koren & Volinsky,
ICDM 2008): the other baseline recommender teams run. Each distinct item a user
reviewed is one positive observation; rank, regularisation and alpha are chosen on a
validation split carved from the training reviews alone (each user's latest training
item, ``ml.item_knn.latest_item_split``), as item-kNN's neighbours are.

Results do not depend on row order or partitions: users and items get integer ids in
key order, the observations reach ALS from one partition sorted by those ids, the block
counts and the seed are fixed, and scores are rounded to 6 decimals before ranking
(ties by item id), so float noise in the last bits cannot reorder a list.

Cost: an iteration is O(pairs x rank² + (users + items) x rank³); the full ranking
scores every user against every item, O(users x items x rank) in MLlib's blocked
matrix products, and keeps each user's first (n + the most items a listed user has
seen) candidates: never a users x items table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ml.ranking import first_unseen, mean_ndcg


@dataclass(frozen=True)
class AlsParams:
    rank: int
    reg_param: float
    alpha: float  # confidence of an observation: 1 + alpha

    def label(self) -> str:
        """A name MLflow accepts in a metric's name."""
        return f"rank_{self.rank}_reg_{self.reg_param}_alpha_{self.alpha}"


# Searched in this order; a tie goes to the earlier (smaller, more regularised) one.
ALS_GRID = (
    AlsParams(rank=16, reg_param=0.1, alpha=1.0),
    AlsParams(rank=16, reg_param=0.1, alpha=10.0),
    AlsParams(rank=64, reg_param=0.1, alpha=1.0),
    AlsParams(rank=64, reg_param=0.1, alpha=10.0),
)
ITERATIONS = 10
# user and item blocks: fixed, so that the factors do not follow the partitions
BLOCKS = 2
# Each iteration's jobs re-plan the whole lineage before it: checkpointing every other
# iteration (to the session's checkpoint directory) keeps a fit at 9 s instead of 12 on
# a tiny frame, and deep lineages overflow the stack without one.
CHECKPOINT_EVERY = 2
SCORE_DECIMALS = 6


def integer_ids(seen: DataFrame, column: str) -> DataFrame:
    """(column, column_index): the distinct values of ``column`` numbered 0.. in their
    order. One sorted partition: O(distinct log distinct)."""
    order = Window.orderBy(column)
    return (
        seen.select(column)
        .distinct()
        .select(column, (F.row_number().over(order) - 1).cast("int").alias(f"{column}_index"))
    )


def fit_factors(observations: DataFrame, params: AlsParams, seed: int):
    """MLlib's ALSModel on ``observations`` (user_key_index, item_id_index). The session
    needs a checkpoint directory: without one the iterations' lineage overflows the
    executor's stack, which takes the whole local JVM down."""
    from pyspark.ml.recommendation import ALS

    if observations.sparkSession.sparkContext.getCheckpointDir() is None:
        raise ValueError(
            "ALS needs the session's checkpoint directory (SparkContext.setCheckpointDir)"
        )

    ratings = (
        observations.select("user_key_index", "item_id_index", F.lit(1.0).alias("observed"))
        .repartition(1)
        .sortWithinPartitions("user_key_index", "item_id_index")
    )
    als = ALS(
        rank=params.rank,
        regParam=params.reg_param,
        alpha=params.alpha,
        maxIter=ITERATIONS,
        implicitPrefs=True,
        userCol="user_key_index",
        itemCol="item_id_index",
        ratingCol="observed",
        numUserBlocks=BLOCKS,
        numItemBlocks=BLOCKS,
        seed=seed,
        checkpointInterval=CHECKPOINT_EVERY,
    )
    return als.fit(ratings)


def als_top_n(seen: DataFrame, users: DataFrame, params: AlsParams, n: int, seed: int) -> DataFrame:
    """(user_key, rank, item_id, score): each of ``users``' n best unseen items by the
    factors of an ALS fit on ``seen`` (distinct user_key, item_id). A user with nothing
    in ``seen`` gets no list."""
    user_ids, item_ids = integer_ids(seen, "user_key"), integer_ids(seen, "item_id")
    observations = seen.join(user_ids, "user_key").join(item_ids, "item_id").localCheckpoint()
    model = fit_factors(observations, params, seed)
    listed = users.join(user_ids, "user_key")
    per_user = observations.join(listed, "user_key", "left_semi").groupBy("user_key").count()
    most_seen = per_user.agg(F.max("count")).first()[0] or 0  # no listed user: none
    found = model.recommendForUserSubset(listed.select("user_key_index"), n + most_seen)
    candidates = (
        found.select("user_key_index", F.explode("recommendations").alias("found"))
        .select(
            "user_key_index",
            F.col("found.item_id_index").alias("item_id_index"),
            F.round(F.col("found.rating").cast("double"), SCORE_DECIMALS).alias("score"),
        )
        .join(user_ids, "user_key_index")
        .join(item_ids, "item_id_index")
    )
    order = Window.partitionBy("user_key").orderBy(F.desc("score"), "item_id")
    ranked = candidates.withColumn("candidate_rank", F.row_number().over(order))
    return first_unseen(ranked, seen, n, "candidate_rank")


def choose_als(
    seen: DataFrame,
    validation: DataFrame,
    n: int,
    seed: int,
    grid: tuple[AlsParams, ...] = ALS_GRID,
) -> tuple[AlsParams, dict[str, float]]:
    """The parameters with the best NDCG@n on the (seen, validation) of
    ``ml.baselines.validation_split`` (ties: the earlier in ``grid``), and every
    candidate's NDCG by its label."""
    users = validation.select("user_key").distinct()
    scores = {
        params: mean_ndcg(als_top_n(seen, users, params, n, seed), validation, n) for params in grid
    }
    best = max(grid, key=lambda params: (scores[params], -grid.index(params)))
    return best, {params.label(): score for params, score in scores.items()}


def logged_params(params: AlsParams) -> dict[str, float]:
    """MLflow parameters of the chosen ALS."""
    return {f"als_{name}": value for name, value in asdict(params).items()}
