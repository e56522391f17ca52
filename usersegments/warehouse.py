"""Reading the lake and the warehouse from Python (quality checks, run summaries, tests)."""

from __future__ import annotations

import pandas as pd

from usersegments.config import Settings
from usersegments.lake import SEGMENTATION, partition_name

# The scoring DAG's table (lake/scores/user_interest_scores/scoring_run_id=<run>/).
SCORE_COLUMNS = [
    "user_key",
    "predicted_interest",
    "segment_id",
    "distance_to_centroid",
    "model_name",
    "model_version",
    "model_run_id",
    "segmentation_run_id",
    "scored_at",
]


def connect(settings: Settings):
    """A connection to the warehouse file.

    Not read-only on purpose: DuckDB refuses a second connection with a different
    configuration inside one process, and under `airflow dags test` dbt (in-process,
    via cosmos) already holds a read-write one. Callers here only read.
    """
    import duckdb

    return duckdb.connect(str(settings.warehouse_path))


def warehouse_location(settings: Settings) -> str:
    """Where the published tables are, for people (no password)."""
    if settings.production:
        server = settings.postgres
        return (
            f"postgresql://{server.host}:{server.port}/{server.database} "
            f"(schema {settings.warehouse_schema})"
        )
    return str(settings.warehouse_path)


def query(settings: Settings, sql: str) -> pd.DataFrame:
    """A query over the published warehouse, whichever it is (DuckDB file or, in the
    production profile, the PostgreSQL server's dbt schema)."""
    if settings.production:
        from usersegments.warehouse_load import connect as connect_server

        with connect_server(settings) as con, con.cursor() as cursor:
            cursor.execute(sql)
            columns = [column.name for column in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    with connect(settings) as con:
        return con.sql(sql).df()


def read_table(settings: Settings, table: str) -> pd.DataFrame:
    return query(settings, f'select * from "{table}"')


def read_raw_reviews(settings: Settings) -> pd.DataFrame:
    import duckdb

    pattern = settings.lake.raw_reviews()
    with duckdb.connect() as con:
        return con.sql(
            "select * from read_parquet(?, union_by_name = true)", params=[str(pattern)]
        ).df()


def table_counts(settings: Settings, tables: list[str]) -> dict[str, int]:
    return {
        t: int(query(settings, f'select count(*) as n from "{t}"')["n"].iloc[0]) for t in tables
    }


def read_review_embeddings(settings: Settings) -> pd.DataFrame:
    """One row per published review with text, and what the lake holds for it under the
    current encoder: how many vectors (expected: 1), their length, norm, and NaN or null elements."""
    import duckdb

    from usersegments.encoder import encoder_info

    version = encoder_info(settings)["model_version"]
    vectors = settings.lake.review_vectors(version)
    with duckdb.connect() as con:
        return con.sql(
            """
            with reviews as (
                select review_key from read_parquet(?)
                where coalesce(summary, review_text) is not null
            ),
            vectors as (
                select review_key, vector from read_parquet(?, hive_partitioning = true)
            )
            select
                reviews.review_key,
                count(vectors.review_key) as vector_count,
                max(len(vectors.vector)) as dimension,
                max(sqrt(list_sum(list_transform(vectors.vector, lambda x: x * x)))) as norm,
                bool_or(list_bool_or(list_transform(vectors.vector, lambda x: x is null or isnan(x))))
                    as has_nan_or_null
            from reviews
            left join vectors on reviews.review_key = vectors.review_key
            group by reviews.review_key
            """,
            params=[
                str(settings.lake.clean("reviews")),
                str(vectors / "*" / "*.parquet"),
            ],
        ).df()


def read_segmentation(
    settings: Settings, table: str, run_id: str, root: str = SEGMENTATION
) -> pd.DataFrame:
    """One table of a segmentation run as the Spark job wrote it (root
    EVALUATION_SEGMENTATION: the evaluation's refit). One row per segment, or per user
    for assignments and features: callers that need those at scale read them in Spark."""
    folder = settings.lake.segmentation(table, run_id, root)
    if not folder.exists():
        raise FileNotFoundError(f"run {run_id} has no segmentation table {table!r} at {folder}")
    return pd.read_parquet(folder)


def read_segment_assignments(settings: Settings, run_id: str) -> pd.DataFrame:
    """A segmentation run's output as GX checks it: every published user joined with
    their assignments (full outer), and those with the run's segments (full outer).

    So a user without a segment has a null segment_id, a user assigned twice appears
    twice, an assignment of an unknown user has is_known_user false, and a segment
    without users shows as a row with a null user_key. Each row also carries its
    segment's actual user count, and the run's stability verdict.
    """

    def read(table: str) -> pd.DataFrame:
        return read_segmentation(settings, table, run_id)

    users = pd.read_parquet(settings.lake.clean("users"), columns=["user_key"])
    assignments = read("assignments")[["user_key", "segment_id", "distance_to_centroid"]]
    segments = read("segments")[["segment_id", "segment_name"]]
    run = read("runs").iloc[0]

    sizes = assignments.groupby("segment_id").size()
    segments["segment_user_count"] = segments["segment_id"].map(sizes).fillna(0).astype("int64")
    frame = users.assign(is_known_user=True).merge(assignments, on="user_key", how="outer")
    frame["is_known_user"] = frame["is_known_user"].eq(True)
    frame = frame.merge(segments, on="segment_id", how="outer")

    # same inputs as the previous run: the partition and the ids must be the same too
    unchanged = (
        run["previous_input_fingerprint"] is not None
        and run["input_fingerprint"] == run["previous_input_fingerprint"]
    )
    frame["ids_stable_if_input_unchanged"] = (not unchanged) or bool(
        run["ari_previous"] == 1.0 and run["unchanged_id_share"] == 1.0
    )
    return frame


def latest_segmentation_run(settings: Settings) -> str:
    """The id of the newest segmentation run in the lake."""
    folder = settings.lake.segmentation("runs")
    if not folder.exists():
        raise FileNotFoundError(f"no segmentation run in {folder}: run the pipeline first")
    runs = pd.read_parquet(folder, columns=["run_id", "segmented_at"])
    return str(runs.sort_values(["segmented_at", "run_id"]).iloc[-1]["run_id"])


def read_scores(settings: Settings) -> pd.DataFrame:
    """Every scoring run's rows, with its scoring_run_id (from the partition folder)."""
    batches = sorted(settings.lake.scores().glob("scoring_run_id=*/*.parquet"))
    if not batches:
        return pd.DataFrame(columns=[*SCORE_COLUMNS, "scoring_run_id"])
    return pd.concat(
        [pd.read_parquet(p).assign(scoring_run_id=p.parent.name.split("=", 1)[1]) for p in batches],
        ignore_index=True,
    )


def read_scores_reconciliation(settings: Settings, scoring_run_id: str) -> pd.DataFrame:
    """What the ``user_scores`` GX checkpoint validates: the newest segmentation run's
    users joined (full outer) with every scoring run's rows. A user never scored has a
    null prediction, one scored twice appears twice, a score of a user the run does not
    know has is_current_user false; in_this_batch marks this scoring run's rows."""
    run_id = latest_segmentation_run(settings)
    users = read_segmentation(settings, "features", run_id)[["user_key"]]
    users = users.assign(is_current_user=True)
    scores = read_scores(settings)
    this_batch = scores["scoring_run_id"] == partition_name(scoring_run_id)
    scores["in_this_batch"] = this_batch.astype("int64")
    frame = users.merge(scores, on="user_key", how="outer")
    frame["is_current_user"] = frame["is_current_user"].eq(True)
    frame["in_this_batch"] = frame["in_this_batch"].fillna(0).astype("int64")
    return frame


def read_recommendations_check(settings: Settings, run_id: str) -> pd.DataFrame:
    """What GX checks before the recommendations are published: every published user
    (left) with their top-N rows, each flagged if the user already reviewed the item
    and whether the user got a list at all."""
    recs = pd.read_parquet(settings.lake.recommendations("user_recommendations", run_id))
    users = pd.read_parquet(settings.lake.clean("users"), columns=["user_key"])
    seen = pd.read_parquet(settings.lake.clean("reviews"), columns=["user_key", "item_id"])
    frame = users.assign(is_known_user=True).merge(recs, on="user_key", how="outer")
    frame["is_known_user"] = frame["is_known_user"].eq(True)
    frame["has_recommendations"] = frame["user_key"].isin(recs["user_key"])
    seen = seen.drop_duplicates().assign(already_reviewed=True)
    flagged = frame.merge(seen, on=["user_key", "item_id"], how="left")
    flagged["already_reviewed"] = flagged["already_reviewed"].eq(True)
    return flagged.sort_values(["user_key", "rank"]).reset_index(drop=True)
