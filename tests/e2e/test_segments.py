"""Segmentation on the real data (the intervals' refit in 2016, the demo's run placing
users with its model in 2019) and its report; the segments under other pseudonymisation
keys."""

from __future__ import annotations

import itertools
import math
import re

import pandas as pd
import pytest

from tests.conftest import TEST_KEY
from tests.e2e.conftest import USERS
from usersegments.warehouse import connect


def latest_run(settings) -> dict:
    with connect(settings) as con:
        return (
            con.sql("select * from segmentation_runs order by segmented_at desc limit 1")
            .df()
            .iloc[0]
            .to_dict()
        )


def refit_run(settings) -> dict:
    """The newest run that fitted a model (the 2016 interval's, k by the DAG's defaults)."""
    with connect(settings) as con:
        refits = con.sql(
            "select * from segmentation_runs where is_refit order by segmented_at desc limit 1"
        )
        return refits.df().iloc[0].to_dict()


def test_k_is_chosen_by_macro_silhouette_and_stability_and_recorded(demo_run):
    run = refit_run(demo_run.settings)
    assert run["k_selection"].startswith("macro-silhouette") and run["algorithm"] == "kmeans"
    assert 3 <= run["k"] <= 10 and run["restarts"] == 10 and run["subsamples"] == 5
    assert 0 < run["user_count"] < USERS  # the users before the 2016 interval's end
    with connect(demo_run.settings) as con:
        scores = con.sql(
            "select * from segmentation_model_selection where run_id = ? order by k",
            params=[run["run_id"]],
        ).df()
    assert list(scores["k"]) == list(range(3, 11))  # every k measured and kept
    assert scores["silhouette"].between(-1, 1).all() and (scores["cost"] > 0).all()
    assert scores["stability"].between(-1, 1).all() and scores["macro_silhouette_noise"].ge(0).all()
    chosen = scores[scores["is_chosen"]]
    assert list(chosen["k"]) == [run["k"]]
    # every user was fitted: the sample's silhouette is the published one (MLlib's)
    assert chosen["silhouette"].iloc[0] == pytest.approx(run["silhouette"], abs=1e-3)
    # the rule: among the k with big enough segments and stability >= 0.8, the smallest
    # k within one noise of the best macro-silhouette
    pool = scores[
        (scores["smallest_segment"] >= run["min_segment_size"]) & (scores["stability"] >= 0.8)
    ]
    best = pool.loc[pool["macro_silhouette"].idxmax()]
    bar = best["macro_silhouette"] - best["macro_silhouette_noise"]
    assert run["k"] == pool.loc[pool["macro_silhouette"] >= bar, "k"].min()
    assert run["min_segment_size"] == math.ceil(0.01 * run["user_count"])


def test_the_segments_are_the_same_as_before_under_the_tests_key(demo_run):
    """The 2016 interval's refit under the tests' fixed key gives the segments it gave
    on 2026-12-07: changes to how features are computed (the co-review degree by sketch,
    the text cache, GX on Spark) must not move a user unless they mean to."""
    run = refit_run(demo_run.settings)
    with connect(demo_run.settings) as con:
        sizes = con.execute(
            "select user_count from segment_size_history where run_id = ? order by segment_id",
            [run["run_id"]],
        ).fetchall()
    assert run["user_count"] == 175 and run["k"] == 3
    assert run["silhouette"] == pytest.approx(0.3215, abs=1e-4)
    assert [n for (n,) in sizes] == [92, 49, 34]


def test_every_user_has_one_segment_and_segments_are_named(demo_run):
    with connect(demo_run.settings) as con:
        segments = con.sql("select * from segments order by segment_id").df()
        users = con.sql(
            "select count(*), count(distinct user_key), count(segment_id) from user_segments"
        ).fetchall()[0]
        sizes = con.sql("select segment_id, count(*) as n from user_segments group by 1").df()
        published_users = con.sql("select count(*) from users").fetchall()[0][0]
    assert users == (USERS, USERS, USERS) and published_users == USERS
    assert len(segments) == latest_run(demo_run.settings)["k"]
    assert segments["user_count"].sum() == USERS
    assert dict(zip(sizes.segment_id, sizes.n, strict=True)) == dict(
        zip(segments.segment_id, segments.user_count, strict=True)
    )
    names = segments["segment_name"]
    assert names.str.strip().str.len().gt(0).all()
    assert names.is_unique
    assert segments["top_terms"].notna().all()
    assert segments["stability"].between(0, 1).all()
    assert segments["is_stable"].eq(segments["stability"] >= 0.6).all()
    assert segments["example_review_summary"].notna().all()


def test_profiles_describe_each_segment_against_everyone(demo_run):
    with connect(demo_run.settings) as con:
        profiles = con.sql("select * from segment_profiles").df()
        k = con.sql("select count(*) from segments").fetchall()[0][0]
        terms = con.sql("select segment_id, count(*) as n from segment_terms group by 1").df()
    categories = profiles[profiles.facet == "category"]
    # category shares of each segment's reviews add up to 1
    assert categories.groupby("segment_id").segment_value.sum().round(9).eq(1).all()
    behaviour = profiles[profiles.facet == "behaviour"]
    assert behaviour.groupby("segment_id").feature.nunique().eq(9).all()
    rating = behaviour[behaviour.feature == "mean_rating"]
    assert (rating.lift - rating.segment_value / rating.population_value).abs().max() < 1e-9
    assert profiles.segment_id.nunique() == k and len(terms) == k and terms.n.gt(0).all()


def test_the_run_writes_its_segment_report(demo_run):
    run = latest_run(demo_run.settings)
    report = demo_run.settings.run_dir(run["run_id"]) / "segments" / "report.html"
    text = report.read_text()
    # users in 2-D, sizes, sizes over runs, migrations, the k choice
    assert len(re.findall(r'<img alt="" src="data:image/png;base64,', text)) == 5
    assert "<h2>Segments over runs</h2>" in text
    with connect(demo_run.settings) as con:
        names = [n for (n,) in con.sql("select segment_name from segments").fetchall()]
    import html

    assert all(html.escape(name) in text for name in names)


def test_every_segmentation_run_is_an_mlflow_run_with_its_report(demo_run):
    from mlflow import MlflowClient

    from ml import tracking
    from ml.segmentation_runs import EXPERIMENT

    run = refit_run(demo_run.settings)
    client = MlflowClient(tracking_uri=tracking.tracking_uri(demo_run.settings))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    (logged,) = client.search_runs(
        [experiment.experiment_id], f"tags.segmentation_run_id = '{run['run_id']}'"
    )
    assert (
        logged.data.params["restarts"] == "10" and logged.data.params["start"] == run["fit_start"]
    )
    assert logged.data.metrics["k"] == run["k"]
    assert logged.data.metrics["stability"] == pytest.approx(run["stability"])
    history = client.get_metric_history(logged.info.run_id, "k_sweep.macro_silhouette")
    assert sorted(m.step for m in history) == list(range(3, 11))
    segments = [
        m for m in logged.data.metrics if m.startswith("segment_") and m.endswith(".stability")
    ]
    assert len(segments) == run["k"]
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"report.html", "segments.json"} <= artifacts


# One more key than the tests' own (each key is a clustering of the real data; a third
# showed nothing the second did not)
OTHER_KEYS = ("another-key-for-the-segments-test",)


def keys_of_reviewers(spark, settings) -> pd.DataFrame:
    """Per raw reviewer id (read here from the lake's raw layer, never kept): the user key
    under each test key. A few thousand rows."""
    from usersegments.dbt_functions import pseudonymize

    raw = spark.read.parquet(str(settings.lake_dir / "raw" / "reviews"))
    reviewers = raw.select("reviewer_id").distinct().toPandas()["reviewer_id"]
    return pd.DataFrame(
        {key: [pseudonymize(key.encode(), r) for r in reviewers] for key in (TEST_KEY, *OTHER_KEYS)}
    ).assign(reviewer_id=reviewers)


def under_key(spark, inputs, keys: pd.DataFrame, key: str):
    """The segmentation's inputs as the pipeline would publish them under ``key``: every
    user key (and the review key, a hash of it) replaced, rows in the new key's order."""
    from pyspark.sql import functions as F

    from usersegments.segmentation.tables import Inputs

    mapping = F.broadcast(
        spark.createDataFrame(keys[[TEST_KEY, key]].set_axis(["user_key", "new_key"], axis=1))
    )

    def swap(frame):
        swapped = frame.join(mapping, "user_key").withColumn("user_key", F.col("new_key"))
        if "review_key" in frame.columns:
            swapped = swapped.withColumn(
                "review_key", F.md5(F.concat_ws("|", "user_key", "review_key"))
            )
        order = ["user_key", "review_key"] if "review_key" in frame.columns else ["user_key"]
        return swapped.select(*frame.columns).orderBy(*order)

    return Inputs(users=swap(inputs.users), reviews=swap(inputs.reviews), text=swap(inputs.text))


def test_the_segments_do_not_depend_on_the_pseudonymisation_key(demo_run, spark):
    """The demo run's inputs clustered with the DAG's defaults under TEST_KEY and under
    another key, users matched through their raw reviewer id: the same k, and the same
    partition (ARI >= 0.95). (The demo's published segments are a placing by the 2016
    model, not a clustering of these inputs.)"""
    from sklearn.metrics import adjusted_rand_score

    from usersegments.encoder import encoder_info
    from usersegments.segmentation.options import SegmentationOptions
    from usersegments.segmentation.run import cluster, prepare
    from usersegments.segmentation.tables import published_inputs

    settings = demo_run.settings
    inputs = published_inputs(spark, settings.lake, encoder_info(settings)["model_version"])
    keys = keys_of_reviewers(spark, settings)

    def by_reviewer(placed: pd.DataFrame, key: str, label: str) -> pd.Series:
        matched = placed.merge(keys[[key, "reviewer_id"]], left_on="user_key", right_on=key)
        return matched.set_index("reviewer_id")[label].sort_index()

    partitions, ks = {}, {}
    options = SegmentationOptions()  # the DAG's defaults, as the demo ran
    for key in (TEST_KEY, *OTHER_KEYS):
        prepared = prepare(under_key(spark, inputs, keys, key), options, 2)
        fit = cluster(prepared, options)
        placed = fit.predictions.select("user_key", "prediction").toPandas()
        partitions[key] = by_reviewer(placed, key, "prediction")
        ks[key] = fit.chosen.k
        print(
            f"key {key[:12]}: k={fit.chosen.k} silhouette={fit.silhouette:.4f} "
            f"macro={fit.chosen.macro_silhouette:.4f} stability={fit.chosen.stability:.3f} "
            f"segments={[round(s, 3) for s in fit.segment_stability()]}"
        )
        prepared.features.unpersist()
        fit.predictions.unpersist()
    assert len(set(ks.values())) == 1, ks
    for a, b in itertools.combinations(partitions, 2):
        assert partitions[a].index.equals(partitions[b].index) and len(partitions[a]) == USERS
        assert adjusted_rand_score(partitions[a], partitions[b]) >= 0.95, (a, b)
