"""The two segmentation jobs end to end.

``publish_segmentation``: fit the published run on every user (k chosen or forced),
keep the previous run's segment ids, profile, name and explain the segments, and write
the run's tables. ``refit_for_evaluation``: the recommender evaluation's replica of a
published run, with its algorithm, k, weights and seed, on the evaluation split's
training reviews only, its clusters matched to the published segment ids.

Cost per run, n users and r reviews: PageRank walks the bipartite user-item graph,
O(r) per iteration, and only the distinct co-reviewer count pairs users up, once
(Σ dᵢ² rows for item degrees dᵢ); each k fit is O(n·k·d) per iteration; profiles,
terms and examples are O(n + r). What reaches the
driver: one row per segment, per segment and term, per k, and a sample of at most
clustering.PCA_SAMPLE users for the principal axes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from usersegments.lake import EVALUATION_SEGMENTATION, Lake, partition_name
from usersegments.segmentation import (
    clustering,
    examples,
    profiles,
    refit,
    selection,
    tables,
    terms,
)
from usersegments.segmentation.centroids import NearestCentroid
from usersegments.segmentation.features import (
    Fusion,
    feature_partitions,
    fit_fusion,
    fused_features,
    mean_text_vector,
    user_table,
)
from usersegments.segmentation.graph import co_review_graph
from usersegments.segmentation.naming import segment_names
from usersegments.segmentation.options import SegmentationOptions, min_segment_users
from usersegments.segmentation.stable_ids import (
    agreement,
    match_segment_ids,
    membership_contingency,
)
from usersegments.vectors import published_review_vectors


@dataclass(frozen=True)
class Prepared:
    """The fused feature space of one set of inputs."""

    fusion: Fusion
    features: DataFrame  # per user: fused features, text vector, reported columns (cached)
    users: int
    users_without_text: int


@dataclass(frozen=True)
class Clustering:
    """The chosen clustering: per-user predictions and one centroid per cluster."""

    # every k's scores on the sample, the choice, the model; None: placed by saved centroids
    selection: selection.Selection | None
    sweep_users: int  # the users the candidates were fitted on
    min_segment_size: int
    silhouette: float  # of the chosen clustering, on everyone
    predictions: DataFrame  # features' columns and ``prediction`` (cached)
    clusters: list[int]
    centers: np.ndarray
    sizes: np.ndarray

    @property
    def chosen(self) -> selection.KScore:
        return self.selection.chosen

    @property
    def scores(self) -> list[selection.KScore]:
        return self.selection.scores

    def segment_stability(self) -> list[float | None]:
        """Per cluster (in ``clusters`` order): its bootstrap Jaccard, if measured."""
        measured = self.selection.segment_stability if self.selection else None
        if measured is None:
            return [None] * len(self.clusters)
        return [
            float(measured[c]) if c < len(measured) and not np.isnan(measured[c]) else None
            for c in self.clusters
        ]


def user_features(inputs: tables.Inputs, options: SegmentationOptions) -> DataFrame:
    """Graph features joined to the per-user table (cached): the input of the fusion,
    fitted (refit) or saved (placing)."""
    graph = co_review_graph(inputs.reviews, inputs.users, options.pagerank_iterations)
    return user_table(inputs.users, graph, inputs.text, mean_text_vector(inputs.text)).cache()


def fuse(
    fusion: Fusion,
    table: DataFrame,
    inputs: tables.Inputs,
    options: SegmentationOptions,
    parallelism: int,
) -> Prepared:
    """Every user's fused features under ``fusion`` (cached)."""
    partitions = options.partitions or feature_partitions(inputs.users.count(), parallelism)
    features = fused_features(fusion, table, partitions).cache()
    users = features.count()
    return Prepared(
        fusion=fusion,
        features=features,
        users=users,
        users_without_text=inputs.users.join(inputs.text, "user_key", "left_anti").count(),
    )


def prepare(
    inputs: tables.Inputs,
    options: SegmentationOptions,
    parallelism: int,
    table: DataFrame | None = None,
) -> Prepared:
    """Fit the fusion on the per-user table (built here unless given) and fuse; the
    table is released once the features are cached."""
    table = table if table is not None else user_features(inputs, options)
    prepared = fuse(fit_fusion(table, options.weights), table, inputs, options, parallelism)
    table.unpersist()
    return prepared


def cluster(
    prepared: Prepared, options: SegmentationOptions, previous_centers: np.ndarray | None = None
) -> Clustering:
    """Fit and choose on the sample (selection), place every user, and the chosen
    clusters' centroids; ``previous_centers``: the previous run's, for a warm start."""
    frame, column = clustering.fit_space(prepared.features, options)
    if frame is not prepared.features:
        frame = frame.cache()
    matrix = clustering.sample_matrix(clustering.sweep_sample(frame, prepared.users), column)
    min_size = min_segment_users(options.min_segment_share, prepared.users)
    # the smallest segment the sample must give, scaled to it
    sample_min_size = math.ceil(min_size * len(matrix) / prepared.users)
    chosen = selection.select(
        matrix, options.candidate_ks(prepared.users), options, sample_min_size, previous_centers
    )
    placed = clustering.place(frame, column, chosen.model)
    predictions = placed.select(*prepared.features.columns, "prediction").cache()
    clusters, centers, sizes = clustering.cluster_centroids(predictions)
    everyone = clustering.silhouette(predictions if column == "features" else placed, column)
    if frame is not prepared.features:
        frame.unpersist()
    return Clustering(
        chosen, len(matrix), min_size, everyone, predictions, clusters, centers, sizes
    )


def segment_id_map(spark: SparkSession, clusters: list[int], segment_ids: list[int]) -> DataFrame:
    return spark.createDataFrame(
        list(zip(clusters, segment_ids, strict=True)), "prediction int, segment_id int"
    )


def assign(
    spark: SparkSession, prepared: Prepared, fit: Clustering, segment_ids: list[int]
) -> DataFrame:
    """Per user: segment id, distance to its centroid, the 2-D projection, and the
    reported columns and text vector (cached; the predictions are released)."""
    centroid_rows = centroid_table(spark, fit, segment_ids)
    mean, axes = clustering.principal_axes(prepared.features, 2)
    projected = clustering.project(fit.predictions, mean, axes, "projection_")
    joined = projected.join(
        F.broadcast(segment_id_map(spark, fit.clusters, segment_ids)), "prediction"
    ).join(F.broadcast(centroid_rows), "segment_id")
    assigned = clustering.distance_to_centroid(joined).drop("centroid", "features").cache()
    assigned.count()
    fit.predictions.unpersist()  # what the description needs is in ``assigned`` now
    return assigned


def centroid_table(spark: SparkSession, fit: Clustering, segment_ids: list[int]) -> DataFrame:
    return spark.createDataFrame(
        [(segment_ids[c], fit.centers[c].tolist()) for c in range(len(segment_ids))],
        "segment_id int, centroid array<double>",
    )


def describe(
    spark: SparkSession,
    lake: Lake,
    inputs: tables.Inputs,
    assigned: DataFrame,
    embedding_version: str,
    options: SegmentationOptions,
) -> dict:
    """Profiles, terms, representative reviews, and each segment's category, traits,
    terms and name."""
    memberships = assigned.select("user_key", "segment_id")
    profile = pd.concat(
        [profiles.profile_table(assigned), profiles.category_mix(inputs.reviews, memberships)],
        ignore_index=True,
    )
    distinctive = terms.class_tfidf(
        terms.term_counts(inputs.reviews, memberships).toPandas(), options.top_terms
    )
    vectors = published_review_vectors(spark, lake, embedding_version)
    nearest = examples.representative_reviews(vectors, assigned, options.examples)
    categories = profiles.top_categories(profile)
    traits = profiles.segment_traits(profile)
    words = terms.top_terms(distinctive)
    return {
        "profiles": profile,
        "terms": distinctive,
        "examples": nearest,
        "categories": categories,
        "traits": traits,
        "top_terms": words,
        "names": segment_names(categories, traits, words),
    }


def segments_table(
    fit: Clustering,
    segment_ids: list[int],
    distances: list,
    described: dict,
    stability: list[float | None],
    stability_floor: float,
) -> pd.DataFrame:
    users = int(fit.sizes.sum())
    rows = []
    for c, segment in enumerate(segment_ids):
        category, share = described["categories"][segment]
        rows.append(
            {
                "segment_id": segment,
                "segment_name": described["names"][segment],
                "user_count": int(fit.sizes[c]),
                "user_share": float(fit.sizes[c]) / users,
                "top_category": category,
                "top_category_share": share,
                "traits": ", ".join(described["traits"].get(segment, [])),
                "top_terms": ", ".join(described["top_terms"].get(segment, [])),
                "previous_match_distance": distances[c],
                "stability": stability[c],
                "is_stable": None if stability[c] is None else stability[c] >= stability_floor,
            }
        )
    return pd.DataFrame(rows).sort_values("segment_id")


def selection_table(fit: Clustering, options: SegmentationOptions) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "algorithm": options.algorithm,
                "k": s.k,
                "silhouette": s.silhouette,
                "macro_silhouette": s.macro_silhouette,
                "macro_silhouette_noise": s.macro_silhouette_noise,
                "stability": s.stability,
                "cost": s.cost,
                "smallest_segment": s.min_size,
                "is_chosen": s.k == fit.chosen.k,
            }
            for s in fit.scores
        ]
    )


class Stopwatch:
    """Seconds per phase of a job, for its report (where a run's time goes)."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = round(now - self.last, 1)
        self.last = now

    def report(self) -> dict:
        return {
            "seconds": round(time.perf_counter() - self.started, 1),
            "phase_seconds": self.phases,
        }


def stability(
    spark: SparkSession, lake: Lake, previous: dict | None, assignments: DataFrame
) -> dict:
    """How this run's memberships compare with the previous run's, on shared users."""
    if not previous:
        return {"shared_users": 0, "ari_previous": None, "unchanged_id_share": None}
    earlier = tables.run_table(spark, lake, "assignments", previous["run_id"])
    ari, shared, unchanged = agreement(membership_contingency(earlier, assignments))
    return {"shared_users": shared, "ari_previous": ari, "unchanged_id_share": unchanged}


def run_record(
    options: SegmentationOptions,
    prepared: Prepared,
    fit: Clustering,
    embedding_version: str,
    fingerprint: str,
    previous: dict | None,
    agreement_with_previous: dict,
) -> dict:
    """The run's row of the ``runs`` table."""
    return {
        "algorithm": options.algorithm,
        "k": fit.chosen.k,
        "k_selection": fit.selection.reason
        + ("" if fit.sweep_users == prepared.users else f" on {fit.sweep_users} sampled users"),
        "k_min": fit.scores[0].k,
        "k_max": fit.scores[-1].k,
        "silhouette": fit.silhouette,
        "macro_silhouette": fit.chosen.macro_silhouette,
        "stability": fit.chosen.stability,
        "unstable_segments": sum(
            s is not None and s < options.stability_floor for s in fit.segment_stability()
        ),
        "start": fit.selection.start,
        "warm_cost_ratio": fit.selection.warm_cost_ratio,
        "restarts": options.restarts,
        "subsamples": options.subsamples,
        "cost": fit.chosen.cost,
        "users": prepared.users,
        "users_without_text": prepared.users_without_text,
        "feature_weights": json.dumps(options.weights, sort_keys=True),
        "feature_dims": json.dumps(prepared.fusion.dims, sort_keys=True),
        "embedding_model_version": embedding_version,
        "seed": options.seed,
        "min_segment_share": options.min_segment_share,
        "min_segment_size": fit.min_segment_size,
        "input_fingerprint": fingerprint,
        "previous_run_id": previous["run_id"] if previous else None,
        "previous_input_fingerprint": previous["input_fingerprint"] if previous else None,
        **agreement_with_previous,
        "segmented_at": datetime.now(UTC).replace(tzinfo=None),
    }


def center_matrix(centroids: pd.DataFrame | None) -> np.ndarray | None:
    """The previous run's centroids as a (k, d) matrix, by segment id, or None."""
    if centroids is None or not len(centroids):
        return None
    return np.vstack(centroids.sort_values("segment_id")["centroid"].to_numpy())


def write_segmentation(
    spark: SparkSession, lake: Lake, run_id: str, frames: dict, fusion: Fusion
) -> None:
    """Every table of the run (pandas ones in their declared schema), and the fitted
    fusion pipeline, under this run's partition."""
    for name, frame in frames.items():
        if isinstance(frame, pd.DataFrame):
            frame = tables.driver_frame(spark, name, frame)
        tables.write_run_table(frame, lake, name, run_id)
    fusion.model.write().overwrite().save(str(lake.segmentation("feature_pipeline", run_id)))


@dataclass(frozen=True)
class Job:
    """What every step of one segmentation run reads: where, which run, its inputs."""

    spark: SparkSession
    lake: Lake
    run_id: str
    embedding_version: str
    options: SegmentationOptions
    as_of: datetime | None
    inputs: tables.Inputs
    clock: Stopwatch


@dataclass(frozen=True)
class Placing:
    """A placing run's users under the current model, and how they moved."""

    model_run: dict  # the runs row of the previous run (its model's settings)
    prepared: Prepared
    fit: Clustering
    segment_ids: list[int]
    new_columns: list[str]  # feature columns the saved pipeline never saw
    assigned: DataFrame  # as ``assign`` gives it (cached)
    moved: dict  # agreement with the previous run

    @property
    def model_run_id(self) -> str:
        return refit.model_run_id(self.model_run)

    def refit_reason(self, policy: refit.RefitPolicy) -> str | None:
        """Why the run refits after all, having placed the users, or None."""
        unchanged = self.moved["unchanged_id_share"]
        return refit.placement_refit_reason(
            policy,
            self.new_columns,
            dict(zip(self.segment_ids, self.fit.sizes.tolist(), strict=True)),
            self.fit.min_segment_size,
            None if unchanged is None else 1 - unchanged,
        )

    def release(self) -> None:
        self.assigned.unpersist()
        self.prepared.features.unpersist()


def place_with_model(job: Job, table: DataFrame, previous: dict) -> Placing:
    """Every user's features under the saved fusion pipeline of the current model (the
    previous run's), and their nearest centroid of it: O(n·k·d), no fit. A category
    the model never saw is reported (a refit reason); one it saw and this run has not
    is a zero share."""
    spark, lake = job.spark, job.lake
    model_id = refit.model_run_id(previous)
    pipeline = PipelineModel.load(str(lake.segmentation("feature_pipeline", model_id)))
    seen = pipeline.stages[0].getInputCols()  # the Imputer's: every numeric input
    new_columns = [c for c in table.columns if c.startswith("f_") and c not in seen]
    table = table.select("*", *[F.lit(0.0).alias(c) for c in seen if c not in table.columns])
    saved = spark.read.parquet(str(lake.segmentation("features", model_id)))
    names = [c for c in saved.columns if c != "user_key"]
    fusion = Fusion(pipeline, json.loads(previous["feature_dims"]), names)
    prepared = fuse(fusion, table, job.inputs, job.options, spark.sparkContext.defaultParallelism)
    model = tables.centroids(spark, lake, model_id).sort_values("segment_id")
    centers = np.vstack(model["centroid"].to_numpy())
    predictions = clustering.place(prepared.features, "features", NearestCentroid(centers)).cache()
    counted = dict(predictions.groupBy("prediction").count().collect())
    fit = Clustering(
        selection=None,
        sweep_users=0,
        min_segment_size=min_segment_users(job.options.min_segment_share, prepared.users),
        silhouette=clustering.silhouette(predictions, "features") if len(counted) > 1 else 0.0,
        predictions=predictions,
        clusters=list(range(len(centers))),
        centers=centers,
        sizes=np.array([counted.get(c, 0) for c in range(len(centers))]),
    )
    segment_ids = model["segment_id"].tolist()
    assigned = assign(spark, prepared, fit, segment_ids)
    moved = stability(spark, lake, previous, assignment_columns(assigned))
    return Placing(previous, prepared, fit, segment_ids, new_columns, assigned, moved)


def assignment_columns(assigned: DataFrame) -> DataFrame:
    return assigned.select(
        "user_key",
        "segment_id",
        "distance_to_centroid",
        F.col("projection_0").alias("projection_x"),
        F.col("projection_1").alias("projection_y"),
    )


# The runs columns a placing run takes from the model that placed it.
MODEL_COLUMNS = (
    "algorithm",
    "k",
    "k_min",
    "k_max",
    "macro_silhouette",
    "stability",
    "unstable_segments",
    "restarts",
    "subsamples",
    "feature_weights",
    "feature_dims",
    "embedding_model_version",
    "seed",
)


def placing_record(placing: Placing, options: SegmentationOptions, fingerprint: str) -> dict:
    """A placing run's row of the ``runs`` table."""
    previous = placing.model_run
    (cost,) = placing.assigned.agg(F.sum(F.col("distance_to_centroid") ** 2)).first()
    return {
        **{column: previous[column] for column in MODEL_COLUMNS},
        "k_selection": f"placed by the model of run {placing.model_run_id} (no refit)",
        "silhouette": placing.fit.silhouette,
        "start": "placed",
        "warm_cost_ratio": None,
        "cost": float(cost),
        "users": placing.prepared.users,
        "users_without_text": placing.prepared.users_without_text,
        "min_segment_share": options.min_segment_share,
        "min_segment_size": placing.fit.min_segment_size,
        "input_fingerprint": fingerprint,
        "previous_run_id": previous["run_id"],
        "previous_input_fingerprint": previous["input_fingerprint"],
        **placing.moved,
        "segmented_at": datetime.now(UTC).replace(tzinfo=None),
    }


def publish_segmentation(
    spark: SparkSession,
    lake: Lake,
    run_id: str,
    embedding_version: str,
    options: SegmentationOptions,
    as_of: datetime | None = None,
    policy: refit.RefitPolicy | None = None,
) -> dict:
    """Segment every published user and write the run (see the module doc): place them
    with the current model, or refit, as ``policy`` decides (usersegments.segmentation.
    refit); ``as_of``: the reviews' cut-off the run's inputs were built with."""
    policy = policy or refit.RefitPolicy()
    inputs = tables.published_inputs(spark, lake, embedding_version)
    job = Job(spark, lake, run_id, embedding_version, options, as_of, inputs, Stopwatch())
    previous = tables.previous_run(spark, lake, run_id, as_of)
    reason = refit.refit_reason(policy, options, embedding_version, as_of, previous)
    table = user_features(inputs, options)
    if reason is None:
        placing = place_with_model(job, table, previous)
        job.clock.lap("placing")
        reason = placing.refit_reason(policy)
        if reason is None:
            table.unpersist()
            return write_placing(job, placing)
        placing.release()
    return refit_and_write(job, table, previous, reason)


def refit_and_write(job: Job, table: DataFrame, previous: dict | None, reason: str) -> dict:
    """Fit the segments anew (warm from the previous run's centroids) and write them."""
    spark, lake, options = job.spark, job.lake, job.options
    prepared = prepare(job.inputs, options, spark.sparkContext.defaultParallelism, table)
    job.clock.lap("features")
    previous_centroids = tables.centroids(spark, lake, previous["run_id"]) if previous else None
    fit = cluster(prepared, options, center_matrix(previous_centroids))
    job.clock.lap("clustering")
    segment_ids, distances = match_segment_ids(fit.centers, fit.sizes, previous_centroids)
    assigned = assign(spark, prepared, fit, segment_ids)
    moved = stability(spark, lake, previous, assignment_columns(assigned))
    job.clock.lap("assignment")
    described = describe(spark, lake, job.inputs, assigned, job.embedding_version, options)
    job.clock.lap("description")
    fingerprint = tables.input_fingerprint(spark, lake, job.inputs, prepared.features)
    run = {
        **run_record(options, prepared, fit, job.embedding_version, fingerprint, previous, moved),
        **refit_columns(True, reason, partition_name(job.run_id), 0, job.as_of),
    }
    frames = {
        "assignments": assignment_columns(assigned).orderBy("user_key"),
        "segments": segments_table(
            fit, segment_ids, distances, described, fit.segment_stability(), options.stability_floor
        ),
        "model_selection": tables.driver_frame(
            spark, "model_selection", selection_table(fit, options)
        ),
        "centroids": centroid_table(spark, fit, segment_ids),
    }
    return write_run(job, frames, described, run, prepared)


def refit_columns(
    refitted: bool, reason: str | None, model_run_id: str, since: int, as_of: datetime | None
) -> dict:
    """The runs columns of the refit decision (see usersegments.segmentation.refit)."""
    return {
        "refit": refitted,
        "refit_reason": reason,
        "model_run_id": model_run_id,
        "intervals_since_refit": since,
        "as_of": as_of,
    }


def write_placing(job: Job, placing: Placing) -> dict:
    """A placing run's tables: the model's centroids, ids, selection and segment
    stabilities, this run's members, sizes and descriptions."""
    spark, lake, options = job.spark, job.lake, job.options
    described = describe(spark, lake, job.inputs, placing.assigned, job.embedding_version, options)
    job.clock.lap("description")
    model_id = placing.model_run_id
    fingerprint = tables.input_fingerprint(spark, lake, job.inputs, placing.prepared.features)
    since = refit.intervals_since_refit(placing.model_run) + 1
    run = {
        **placing_record(placing, options, fingerprint),
        **refit_columns(False, None, model_id, since, job.as_of),
    }
    model_segments = tables.run_table(spark, lake, "segments", model_id).toPandas()
    stability_of = model_segments.set_index("segment_id")["stability"]
    stabilities = [
        None if pd.isna(stability_of.get(s)) else float(stability_of[s])
        for s in placing.segment_ids
    ]
    unmoved = [0.0] * len(placing.segment_ids)  # the previous run's centroids
    frames = {
        "assignments": assignment_columns(placing.assigned).orderBy("user_key"),
        "segments": segments_table(
            placing.fit,
            placing.segment_ids,
            unmoved,
            described,
            stabilities,
            options.stability_floor,
        ),
        "model_selection": tables.run_table(spark, lake, "model_selection", model_id),
        "centroids": centroid_table(spark, placing.fit, placing.segment_ids),
    }
    return write_run(job, frames, described, run, placing.prepared)


def write_run(job: Job, frames: dict, described: dict, run: dict, prepared: Prepared) -> dict:
    """The run's tables (with the description's and the runs row), and its report."""
    examples_columns = ["segment_id", "example_rank", "review_key", "similarity"]
    frames = {
        **frames,
        "profiles": described["profiles"],
        "terms": described["terms"],
        "examples": described["examples"].select(*examples_columns),
        "runs": pd.DataFrame([run]),
        "features": named_features(prepared),
    }
    write_segmentation(job.spark, job.lake, job.run_id, frames, prepared.fusion)
    job.clock.lap("writing")
    segments = frames["segments"]
    selection = frames["model_selection"].toPandas()
    return {
        **{k: v for k, v in run.items() if k != "segmented_at"},
        "run_id": partition_name(job.run_id),
        "segments": segments[["segment_id", "segment_name", "user_count"]].to_dict("records"),
        "model_selection": selection.to_dict("records"),
        **job.clock.report(),
    }


def named_features(prepared: Prepared) -> DataFrame:
    """Every user's fused vector, one named column per dimension (the interest
    classifier's input), ordered by user."""
    from pyspark.ml.functions import vector_to_array

    vector = vector_to_array("features")
    columns = [vector[i].alias(name) for i, name in enumerate(prepared.fusion.feature_names)]
    return prepared.features.select("user_key", *columns).orderBy("user_key")


def refit_for_evaluation(
    spark: SparkSession,
    lake: Lake,
    run_id: str,
    embedding_version: str,
    iterations: SegmentationOptions | None = None,
) -> dict:
    """The evaluation's replica of published run ``run_id`` (see the module doc);
    ``iterations``: where its PageRank and clustering iteration counts come from."""
    clock = Stopwatch()
    published = tables.published_run(spark, lake, run_id)
    # the published run's settings, so the evaluation measures the same recommender
    options = replace(
        iterations or SegmentationOptions(),
        algorithm=published["algorithm"],
        k=published["k"],
        seed=published["seed"],
        restarts=published.get("restarts") or SegmentationOptions.restarts,
        weights=json.loads(published["feature_weights"]),
        # cold, and no stability: a replica is measured against the published run, and
        # the published centroids saw the held-out reviews
        subsamples=0,
        warm_start=False,
    )
    inputs = tables.evaluation_inputs(spark, lake, embedding_version)
    prepared = prepare(inputs, options, spark.sparkContext.defaultParallelism)
    clock.lap("features")
    fit = cluster(prepared, options)
    clock.lap("clustering")
    segment_ids, _ = match_segment_ids(
        fit.centers, fit.sizes, tables.centroids(spark, lake, run_id)
    )
    assignments = fit.predictions.join(
        F.broadcast(segment_id_map(spark, fit.clusters, segment_ids)), "prediction"
    ).select("user_key", "segment_id")
    published_assignments = tables.run_table(spark, lake, "assignments", run_id)
    ari, shared_users, unchanged = agreement(
        membership_contingency(published_assignments, assignments)
    )
    run = {
        "algorithm": options.algorithm,
        "k": options.k,
        "seed": options.seed,
        "users": prepared.users,
        "silhouette": fit.silhouette,
        "shared_users": shared_users,
        "ari_published": ari,
        "unchanged_id_share": unchanged,
    }
    tables.write_run_table(
        assignments.orderBy("user_key"), lake, "assignments", run_id, EVALUATION_SEGMENTATION
    )
    runs = tables.driver_frame(spark, "evaluation_runs", pd.DataFrame([run]))
    tables.write_run_table(runs, lake, "runs", run_id, EVALUATION_SEGMENTATION)
    clock.lap("matching and writing")
    return {**run, "run_id": partition_name(run_id), "evaluation": True, **clock.report()}
