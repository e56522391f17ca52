"""Segmentation on the real data (through the demo's DAG run) and its report; the
segments under other pseudonymisation keys."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from tests.conftest import TEST_KEY
from usersegments.warehouse import connect

USERS = 3_667


def latest_run(settings) -> dict:
    with connect(settings) as con:
        return (
            con.sql("select * from segmentation_runs order by segmented_at desc limit 1")
            .df()
            .iloc[0]
            .to_dict()
        )


def test_k_is_chosen_by_macro_silhouette_and_stability_and_recorded(full_run):
    run = latest_run(full_run.settings)
    assert run["k_selection"].startswith("macro-silhouette") and run["algorithm"] == "kmeans"
    assert 3 <= run["k"] <= 10 and run["restarts"] == 10 and run["subsamples"] == 5
    assert run["user_count"] == USERS
    with connect(full_run.settings) as con:
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
    assert run["min_segment_size"] == 37  # 1% of 3,667 users


def test_the_segments_are_the_same_as_before_under_the_tests_key(full_run):
    """The real data under the tests' fixed key gives the segments docs/results.md
    reports: changes to how features are computed (the co-review degree by sketch, the
    text cache, GX on Spark) must not move a user unless they mean to."""
    run = latest_run(full_run.settings)
    with connect(full_run.settings) as con:
        sizes = con.sql("select user_count from segments order by segment_id").fetchall()
    assert run["k"] == 8 and run["silhouette"] == pytest.approx(0.3738, abs=1e-4)
    assert [n for (n,) in sizes] == [858, 842, 590, 416, 411, 352, 152, 46]


def test_every_user_has_one_segment_and_segments_are_named(full_run):
    with connect(full_run.settings) as con:
        segments = con.sql("select * from segments order by segment_id").df()
        users = con.sql(
            "select count(*), count(distinct user_key), count(segment_id) from user_segments"
        ).fetchall()[0]
        sizes = con.sql("select segment_id, count(*) as n from user_segments group by 1").df()
        published_users = con.sql("select count(*) from users").fetchall()[0][0]
    assert users == (USERS, USERS, USERS) and published_users == USERS
    assert len(segments) == latest_run(full_run.settings)["k"]
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


def test_profiles_describe_each_segment_against_everyone(full_run):
    with connect(full_run.settings) as con:
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


def test_the_run_writes_its_segment_report(full_run):
    run = latest_run(full_run.settings)
    report = full_run.settings.run_dir(run["run_id"]) / "segments" / "report.html"
    text = report.read_text()
    # users in 2-D, sizes, sizes over runs, migrations, the k choice
    assert len(re.findall(r'<img alt="" src="data:image/png;base64,', text)) == 5
    assert "<h2>Segments over runs</h2>" in text
    with connect(full_run.settings) as con:
        names = [n for (n,) in con.sql("select segment_name from segments").fetchall()]
    import html

    assert all(html.escape(name) in text for name in names)


def test_every_segmentation_run_is_an_mlflow_run_with_its_report(full_run):
    from mlflow import MlflowClient

    from ml import tracking
    from ml.segmentation_runs import EXPERIMENT

    run = latest_run(full_run.settings)
    client = MlflowClient(tracking_uri=tracking.tracking_uri(full_run.settings))
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


# One more key: the demo ran under TEST_KEY (each key is a clustering of the real data,
# about two minutes of CI; a second one showed nothing the first did not)
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


def test_the_segments_do_not_depend_on_the_pseudonymisation_key(full_run, spark):
    """The demo's published segments (under TEST_KEY) and the clustering of the same
    inputs under another key, users matched through their raw reviewer id: the same k,
    and the same partition (ARI >= 0.95)."""
    from sklearn.metrics import adjusted_rand_score

    from usersegments.encoder import encoder_info
    from usersegments.segmentation.options import SegmentationOptions
    from usersegments.segmentation.run import cluster, prepare
    from usersegments.segmentation.tables import published_inputs

    settings = full_run.settings
    inputs = published_inputs(spark, settings.lake, encoder_info(settings)["model_version"])
    keys = keys_of_reviewers(spark, settings)

    def by_reviewer(placed: pd.DataFrame, key: str, label: str) -> pd.Series:
        matched = placed.merge(keys[[key, "reviewer_id"]], left_on="user_key", right_on=key)
        return matched.set_index("reviewer_id")[label].sort_index()

    with connect(settings) as con:
        published = con.sql("select user_key, segment_id from user_segments").df()
    partitions = {TEST_KEY: by_reviewer(published, TEST_KEY, "segment_id")}
    ks = {TEST_KEY: latest_run(settings)["k"]}
    options = SegmentationOptions()  # the DAG's defaults, as the demo ran
    for key in OTHER_KEYS:
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
