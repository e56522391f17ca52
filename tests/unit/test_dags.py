"""The DAG file as the scheduler sees it."""

from __future__ import annotations

import time

from usersegments.config import PROJECT_DIR


def test_dag_imports_without_errors_and_parses_fast():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    elapsed = time.perf_counter() - started

    assert bag.import_errors == {}
    assert "user_segments_pipeline" in bag.dags
    # no dbt invocation while parsing: the dbt tasks run it
    assert elapsed < 30, f"parsing took {elapsed:.1f}s"


def test_every_stage_is_gated_by_its_checkpoint():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags["user_segments_pipeline"]
    tasks = {task.task_id: task for task in dag.tasks}

    def downstream(task_id: str) -> set[str]:
        return {t.task_id for t in tasks[task_id].get_flat_relatives(upstream=False)}

    dbt = {t for t in tasks if t.startswith("dbt_")}
    assert dbt == {
        f"dbt_{stage}" for stage in ("clean", "features", "marts", "segments", "recommendations")
    }
    assert dbt <= downstream("validate_raw_reviews")
    assert dbt - {"dbt_clean"} <= downstream("validate_staged_reviews")
    assert "dbt_marts" in downstream("validate_user_features")
    assert "embed_reviews" in downstream("dbt_marts")
    assert "validate_review_embeddings" in downstream("embed_reviews")
    assert "segment_users" in downstream("validate_review_embeddings")
    assert "validate_user_segments" in downstream("segment_users")
    assert "dbt_segments" in downstream("validate_user_segments")
    assert {"segment_report", "summarise"} <= downstream("dbt_segments")
    # recommendations: the evaluation refit follows the published segments, the lists
    # are validated before dbt publishes them
    assert "segment_evaluation_users" in downstream("dbt_segments")
    assert "recommend_segments" in downstream("segment_evaluation_users")
    # with the offline evaluation off, the refit is skipped and the lists still made
    assert tasks["offline_evaluation"].downstream_task_ids == {"segment_evaluation_users"}
    assert tasks["recommend_segments"].trigger_rule == "none_failed"
    assert tasks["offline_evaluation"].ignore_downstream_trigger_rules is False
    assert "validate_recommendations" in downstream("recommend_segments")
    assert "dbt_recommendations" in downstream("validate_recommendations")
    assert "summarise" in downstream("dbt_recommendations")
    # the classifier trains on the published segmentation, and the gate follows it
    assert "train_interest_classifier" in downstream("dbt_segments")
    assert {"promote_interest_classifier", "summarise"} <= downstream("train_interest_classifier")
    assert set(dag.params.keys()) >= {
        "promotion_margin",
        "class_f1_floor",
        "source_files",
        "strict_expectations",
        "segmentation_algorithm",
        "segment_count",
        "min_segment_share",
        "feature_weights",
        "recommendation_count",
        "recency_half_life_days",
        "offline_evaluation",
    }


def test_every_dbt_model_is_built_by_one_stage_of_the_dags():
    """A stage is a tag: a model with no stage's tag, or two, is built never or twice."""
    import json

    from airflow.dag_processing.dagbag import DagBag

    from usersegments.config import MANIFEST_PATH

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    stages = {
        t.task_id.removeprefix("dbt_")
        for dag in bag.dags.values()
        for t in dag.tasks
        if t.task_id.startswith("dbt_")
    }
    nodes = json.loads(MANIFEST_PATH.read_text())["nodes"].values()
    models = {n["name"]: set(n["tags"]) & stages for n in nodes if n["resource_type"] == "model"}
    assert len(models) > 30
    assert {name: tags for name, tags in models.items() if len(tags) != 1} == {}
    for dag in bag.dags.values():
        for task in (t for t in dag.tasks if t.task_id.startswith("dbt_")):
            assert task.select == f"tag:{task.task_id.removeprefix('dbt_')}"


def test_segmentation_params_reach_the_spark_job():
    """The trigger form's values end up on the job's command line."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT_DIR / "dags")).dags["user_segments_pipeline"]
    task = dag.get_task("segment_users")
    params = {
        "segmentation_algorithm": "bisecting_kmeans",
        "segment_count": 7,
        "min_segment_share": 0.02,
        "feature_weights": {"behaviour": 1.0, "text": 2.0, "graph": 0.0},
        "refit_every_intervals": 2,
        "max_moved_share": 0.25,
        "force_refit": True,
    }
    env = task.get_template_env()
    rendered = [
        env.from_string(arg).render(params=params, run_id="manual__1")
        for arg in task.application_args
    ]
    pairs = dict(zip(rendered[::2], rendered[1::2], strict=True))
    assert pairs["--algorithm"] == "bisecting_kmeans"
    assert pairs["--k"] == "7"
    assert pairs["--min-segment-share"] == "0.02"
    assert pairs["--run-id"] == "manual__1"
    import json
    import runpy

    assert json.loads(pairs["--weights"]) == params["feature_weights"]
    # the job reads them back as its options and refit policy
    job = runpy.run_path(str(PROJECT_DIR / "spark_jobs" / "segment_users.py"))
    args = ["--lake-dir", "l", "--encoder-dir", "e", *rendered[rendered.index("--run-id") :]]
    _, options, policy = job["parse_args"](args)
    assert (options.algorithm, options.k, options.weights["text"]) == ("bisecting_kmeans", 7, 2.0)
    assert (policy.every, policy.max_moved_share, policy.force) == (2, 0.25, True)
    # empty means "choose k"
    assert (
        env.from_string("{{ params.segment_count or 0 }}").render(params={"segment_count": None})
        == "0"
    )


def test_a_run_sees_the_reviews_before_its_data_interval_end():
    """Yearly by default (a cron trigger: the data interval ends at the run's time); the
    interval's end (UTC) is the as-of dbt and the segmentation job get; a manual run
    without a logical date has none and sees everything."""
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    dag = bag.dags["user_segments_pipeline"]
    assert dag.schedule == "@yearly"
    segment = dag.get_task("segment_users")
    clean = dag.get_task("dbt_clean")
    as_of = segment.application_args[segment.application_args.index("--as-of") + 1]
    assert clean.vars == {"as_of": as_of}
    env = segment.get_template_env()
    end = pendulum.datetime(2016, 1, 1, tz="Europe/Paris")  # 2015-12-31 23:00 UTC
    assert env.from_string(as_of).render(data_interval_end=end) == "2015-12-31 23:00:00"
    assert env.from_string(as_of).render(data_interval_end=None) == ""
    # a manual run without a logical date: no data interval in the context at all
    assert env.from_string(as_of).render() == ""


def test_scoring_dag_runs_on_the_published_segments():
    """Data-aware: the pipeline's last task updates the asset the scoring DAG waits on,
    and the scoring DAG publishes nothing before its checkpoint passes."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    pipeline, scoring = bag.dags["user_segments_pipeline"], bag.dags["score_new_users"]
    published = {asset.name for asset in pipeline.get_task("summarise").outlets}
    assert {"lake.segments", "lake.recommendations"} <= published
    assert [asset.name for asset in scoring.timetable.asset_condition.objects] == ["lake.segments"]
    tasks = {t.task_id: t for t in scoring.tasks}
    after_check = {
        t.task_id for t in tasks["validate_user_scores"].get_flat_relatives(upstream=False)
    }
    assert "dbt_scoring" in after_check
    assert "publish" in after_check


def test_a_run_publishes_its_tables_after_every_gate_and_one_task_at_a_time():
    """Write-audit-publish: dbt writes the run's build; the one task that writes the
    published warehouse follows every checkpoint and every dbt test. The tasks that open
    the published DuckDB file share one pool with the scoring DAG's dbt tasks."""
    from airflow.dag_processing.dagbag import DagBag

    from usersegments.airflow_cli import WAREHOUSE_POOL

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    pipeline, scoring = bag.dags["user_segments_pipeline"], bag.dags["score_new_users"]
    publish = pipeline.get_task("publish_warehouse")
    upstream = {t.task_id for t in publish.get_flat_relatives(upstream=True)}
    gates = {t.task_id for t in pipeline.tasks if t.task_id.startswith(("validate_", "dbt_"))}
    assert gates <= upstream
    assert "start_build" in upstream
    assert {t.task_id for t in pipeline.get_task("start_build").get_flat_relatives()} >= {
        t for t in gates if t.startswith("dbt_")
    }

    published = {t.task_id for t in [*pipeline.tasks, *scoring.tasks] if t.pool == WAREHOUSE_POOL}
    scoring_dbt = {t.task_id for t in scoring.tasks if t.task_id.startswith("dbt_")}
    assert published == {"publish_warehouse", "summarise", *scoring_dbt}
    # the pipeline's dbt tasks write its own build, not the published file
    assert all(
        "building.duckdb" in t.env["USERSEGMENTS_WAREHOUSE_FILE"]
        for t in pipeline.tasks
        if t.task_id.startswith("dbt_")
    )
