"""Per-segment recommendations and their offline evaluation, on the real data: the
time split, the published tables, MLflow, and that no held-out interaction reaches the
recommender (a poisoned copy of the held-out reviews changes no recommendation)."""

from __future__ import annotations

import json
import shutil
import subprocess

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ml.baselines import choose_tuning
from ml.recommend import RecommenderConfig, evaluation_inputs, evaluation_recommendations
from tests.e2e.conftest import USERS, pipeline_env
from usersegments.config import PROJECT_DIR, Settings
from usersegments.encoder import encoder_dir
from usersegments.lake import partition_name
from usersegments.spark import SPARK_JOBS_DIR, spark_env, submit_command
from usersegments.warehouse import connect, latest_segmentation_run, read_segmentation

RECOMMENDERS = {
    "segment_popularity",
    "global_popularity",
    "random",
    "item_knn",
    "als",
    "item_knn_segment_cold",
}


def test_the_split_holds_out_each_users_latest_item(demo_run):
    with connect(demo_run.settings) as con:
        assert (
            con.sql("select count(*) from evaluation_reviews").fetchall()[0]
            == con.sql("select count(*) from reviews").fetchall()[0]
        )
        per_user = con.sql(
            """
            select
                user_key,
                count(distinct item_id) as items,
                count(distinct item_id) filter (where evaluation_split = 'holdout') as held_items,
                max(reviewed_at) filter (where evaluation_split = 'holdout') as held_at,
                max(reviewed_at) filter (where evaluation_split = 'train') as last_train_at
            from evaluation_reviews
            group by user_key
            """
        ).df()
        # an item is held out with all of its user's reviews, or not at all
        split_items = con.sql(
            "select count(*) from (select user_key, item_id from evaluation_reviews "
            "group by all having count(distinct evaluation_split) > 1)"
        ).fetchall()[0][0]
        evaluation_users = con.sql("select count(*) from evaluation_users").fetchall()[0][0]
    assert len(per_user) == USERS == evaluation_users
    several = per_user[per_user["items"] >= 2]
    assert (several["held_items"] == 1).all()
    assert (per_user.loc[per_user["items"] == 1, "held_items"] == 0).all()
    assert (several["held_at"] >= several["last_train_at"]).all()
    assert split_items == 0


def test_recommendations_are_published_unseen_and_per_segment(demo_run):
    run_id = latest_segmentation_run(demo_run.settings)
    with connect(demo_run.settings) as con:
        lists = con.sql(
            "select user_key, count(*) as n, max(recommendation_rank) as last_rank, "
            "min(recommendation_rank) as first_rank from user_recommendations group by all"
        ).df()
        seen = con.sql(
            "select count(*) from user_recommendations join reviews using (user_key, item_id)"
        ).fetchall()[0][0]
        other_segment = con.sql(
            "select count(*) from user_recommendations r join user_segments s using (user_key) "
            "where r.segment_id <> s.segment_id"
        ).fetchall()[0][0]
        # each user's list is their segment's ranking, in order, minus what they reviewed
        out_of_order = con.sql(
            """
            select count(*) from (
                select r.user_key, r.recommendation_rank, s.item_rank,
                    lag(s.item_rank) over (partition by r.user_key order by r.recommendation_rank) as previous_rank
                from user_recommendations r
                join segment_recommendations s using (segment_id, item_id)
            ) where item_rank <= previous_rank
            """
        ).fetchall()[0][0]
        run_ids = con.sql(
            "select distinct run_id from user_recommendations union select distinct run_id from segment_recommendations"
        ).fetchall()
        segments = con.sql("select count(distinct segment_id) from segments").fetchall()[0][0]
        ranked_segments = con.sql(
            "select count(distinct segment_id) from segment_recommendations"
        ).fetchall()[0][0]
    assert run_ids == [(partition_name(run_id),)]
    assert len(lists) == USERS
    assert (
        (lists["n"] == 10).all()
        and (lists["first_rank"] == 1).all()
        and (lists["last_rank"] == 10).all()
    )
    assert seen == 0 and other_segment == 0 and out_of_order == 0
    assert ranked_segments == segments


def test_evaluation_in_the_warehouse_matches_mlflow(demo_run):
    from mlflow import MlflowClient

    from ml import tracking

    run_id = partition_name(latest_segmentation_run(demo_run.settings))
    with connect(demo_run.settings) as con:
        evaluation = con.sql(
            "select * from recommendation_evaluation where run_id = ?", params=[run_id]
        ).df()
        holdout_users = con.sql(
            "select count(distinct user_key) from evaluation_reviews where evaluation_split = 'holdout'"
        ).fetchall()[0][0]
        segments = con.sql("select count(*) from segments").fetchall()[0][0]
    overall = evaluation[evaluation["scope"] == "overall"].set_index("recommender")
    assert set(overall.index) == RECOMMENDERS
    assert (overall["users"] == holdout_users).all() and holdout_users > USERS // 2
    per_segment = evaluation[evaluation["scope"] == "segment"]
    assert len(per_segment) == len(RECOMMENDERS) * segments
    assert per_segment["segment_name"].notna().all()
    assert (per_segment.groupby("recommender")["users"].sum() == holdout_users).all()
    # every figure sits in its bootstrap interval
    for metric in ("hit_rate", "ndcg"):
        assert (evaluation[f"{metric}_low"] <= evaluation[metric] + 1e-12).all()
        assert (evaluation[metric] <= evaluation[f"{metric}_high"] + 1e-12).all()
    # cold users (two training items or fewer), if any, are measured by every recommender
    cold = evaluation[evaluation["scope"] == "cold"]
    assert len(cold) in (0, len(RECOMMENDERS))
    # the random baseline shows every item to someone; it hits (almost) nothing
    assert overall.loc["random", "catalogue_coverage"] > 0.9
    assert overall.loc["random", "hit_rate"] < overall.loc["global_popularity", "hit_rate"]

    tracking.configure(demo_run.settings)
    (mlflow_run_id,) = set(evaluation["mlflow_run_id"])
    logged = MlflowClient().get_run(mlflow_run_id)
    assert logged.data.tags["segmentation_run_id"] == run_id
    for recommender, row in overall.iterrows():
        for metric in ("hit_rate", "recall", "ndcg"):
            assert logged.data.metrics[f"{recommender}.{metric}_at_10"] == pytest.approx(
                row[metric]
            )
        assert logged.data.metrics[f"{recommender}.catalogue_coverage"] == pytest.approx(
            row["catalogue_coverage"]
        )


@pytest.fixture(scope="module")
def poisoned(demo_run, tmp_path_factory) -> Settings:
    """A copy of the demo run's warehouse and lake in which every held-out review is
    changed (another item id, category and rating, more words and votes, and the
    opposite text vector), with the evaluation's split, features and segmentation
    rebuilt from it."""
    source = demo_run.settings
    settings = Settings(data_dir=tmp_path_factory.mktemp("poisoned"), source_dir=source.source_dir)
    shutil.copytree(source.warehouse_path.parent, settings.warehouse_path.parent)
    for folder in ("clean", "embeddings", "segments"):
        shutil.copytree(source.lake_dir / folder, settings.lake_dir / folder)

    with duckdb.connect(str(settings.warehouse_path)) as con:
        held = set(
            con.sql(
                "select review_key from int_reviews__evaluation_split where evaluation_split = 'holdout'"
            ).df()["review_key"]
        )
        con.execute(
            """
            update int_reviews__normalised set
                item_id = 'POISON-' || item_id,
                category = case when category = 'gift_cards' then 'appliances' else 'gift_cards' end,
                rating = 6 - rating,
                review_words = review_words * 10 + 100,
                helpful_votes = coalesce(helpful_votes, 0) + 1000,
                is_verified = not coalesce(is_verified, false)
            where review_key in (
                select review_key from int_reviews__evaluation_split where evaluation_split = 'holdout'
            )
            """
        )
    for path in (settings.lake_dir / "embeddings" / "reviews").rglob("*.parquet"):
        table = pq.read_table(path)
        frame = table.to_pandas()
        flip = frame["review_key"].isin(held)
        frame.loc[flip, "vector"] = frame.loc[flip, "vector"].map(lambda v: [-x for x in v])
        pq.write_table(pa_table(frame, table.schema), path)
        # Hadoop's checksum of the file Spark wrote would no longer match
        path.with_name(f".{path.name}.crc").unlink(missing_ok=True)

    env = pipeline_env(settings.data_dir, settings.source_dir)
    dbt = subprocess.run(
        [
            str(PROJECT_DIR / ".venv" / "bin" / "dbt"),
            "run",
            "--select",
            "int_reviews__evaluation_split+",
            "--profiles-dir",
            ".",
            "--target-path",
            str(settings.data_dir / "dbt_target"),
        ],
        cwd=PROJECT_DIR / "dbt_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert dbt.returncode == 0, dbt.stdout[-3000:]
    run_id = latest_segmentation_run(source)
    job = subprocess.run(
        submit_command(
            SPARK_JOBS_DIR / "segment_evaluation_users.py",
            [
                *("--lake-dir", str(settings.lake_dir)),
                *("--encoder-dir", str(encoder_dir(source))),
                *("--run-id", run_id),
            ],
            settings,
        ),
        env={**env, **spark_env()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert job.returncode == 0, job.stderr[-3000:]
    return settings


def pa_table(frame: pd.DataFrame, schema):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


@pytest.fixture(scope="module")
def spark(demo_run, tmp_path_factory):
    from usersegments.spark import spark_session

    session = spark_session("test-recommendations", demo_run.settings, jars=False)
    # ALS checkpoints its iterations (ml/als.py)
    # not in the run's folder, whose files the demo's test finds the owner's alone
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("als-checkpoints")))
    yield session
    session.stop()


def frame(spark_frame, keys: list[str]) -> pd.DataFrame:
    """A test's small Spark result as pandas, in key order, to compare exactly."""
    return spark_frame.toPandas().sort_values(keys).reset_index(drop=True)


def test_no_held_out_interaction_reaches_the_recommender(demo_run, poisoned, spark):
    run_id = latest_segmentation_run(demo_run.settings)
    config = RecommenderConfig()
    train, holdout, memberships = evaluation_inputs(spark, demo_run.settings, run_id)
    poisoned_train, poisoned_holdout, poisoned_memberships = evaluation_inputs(
        spark, poisoned, run_id
    )

    # the poison reached the held-out side and nothing else
    holdout_items = frame(poisoned_holdout, ["user_key", "item_id"])["item_id"]
    assert holdout_items.str.startswith("POISON-").all()
    assert len(holdout_items) == holdout.count() > USERS // 2
    pd.testing.assert_frame_equal(
        frame(poisoned_train, ["review_key"]), frame(train, ["review_key"])
    )
    # the evaluation's features and segments come from earlier reviews only
    features = pd.read_parquet(demo_run.settings.lake_dir / "clean" / "evaluation_users.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(poisoned.lake_dir / "clean" / "evaluation_users.parquet"), features
    )
    pd.testing.assert_frame_equal(
        frame(poisoned_memberships, ["user_key"]), frame(memberships, ["user_key"])
    )
    # so the baselines' searches (item-kNN's neighbours, ALS's rank, regularisation and
    # alpha) choose what the published run chose, and every recommender shows every user
    # the same list
    tuning, validation_ndcg = choose_tuning(poisoned_train, config)
    summary = json.loads(next(demo_run.settings.runs_dir.glob("*/summary.json")).read_text())
    published = summary["recommendations"]["baselines"]
    assert {**tuning.params(), "validation_ndcg": validation_ndcg} == published
    # (the choice passed on: evaluation_recommendations would search again)
    lists = evaluation_recommendations(train, holdout, memberships, config, tuning)
    poisoned_lists = evaluation_recommendations(
        poisoned_train, poisoned_holdout, poisoned_memberships, config, tuning
    )
    assert set(lists) == RECOMMENDERS
    for name in RECOMMENDERS:
        keys = ["user_key", "rank"]
        pd.testing.assert_frame_equal(frame(poisoned_lists[name], keys), frame(lists[name], keys))
    # while the published segmentation, which saw the held-out reviews, does differ
    published = read_segmentation(demo_run.settings, "assignments", run_id).set_index("user_key")[
        "segment_id"
    ]
    refit = frame(memberships, ["user_key"]).set_index("user_key")["segment_id"]
    assert (published.reindex(refit.index) != refit).any()
