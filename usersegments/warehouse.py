"""Reading the lake and the warehouse from Python (quality checks, run summaries, tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from usersegments.config import Settings
from usersegments.lake import SEGMENTATION

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


def export_table(settings: Settings, table: str, target: Path) -> Path:
    """A warehouse table written to Parquet by the warehouse itself (DuckDB's COPY, or a
    streamed PostgreSQL cursor): nothing passes through pandas."""
    if settings.production:
        from usersegments.warehouse_load import export_table as export_from_server

        export_from_server(settings, table, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with connect(settings) as con:
        con.execute(f"copy (select * from \"{table}\") to '{target}' (format parquet)")
    return target


def table_counts(settings: Settings, tables: list[str]) -> dict[str, int]:
    return {
        t: int(query(settings, f'select count(*) as n from "{t}"')["n"].iloc[0]) for t in tables
    }


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


def latest_segmentation_run(settings: Settings) -> str:
    """The id of the newest segmentation run in the lake, by what it saw (its as-of;
    a run without one saw everything and counts as the newest), as the marts' current
    run (int_segmentation__current_run)."""
    import duckdb

    folder = settings.lake.segmentation("runs")
    if not folder.exists():
        raise FileNotFoundError(f"no segmentation run in {folder}: run the pipeline first")
    query = (
        f"select run_id from read_parquet('{folder}/*/*.parquet', hive_partitioning = true,"
        " union_by_name = true) order by as_of desc nulls first, segmented_at desc,"
        " run_id desc limit 1"
    )
    with duckdb.connect() as con:
        return str(con.execute(query).fetchone()[0])


def read_scores(settings: Settings) -> pd.DataFrame:
    """Every scoring run's rows, with its scoring_run_id (from the partition folder)."""
    batches = sorted(settings.lake.scores().glob("scoring_run_id=*/*.parquet"))
    if not batches:
        return pd.DataFrame(columns=[*SCORE_COLUMNS, "scoring_run_id"])
    return pd.concat(
        [pd.read_parquet(p).assign(scoring_run_id=p.parent.name.split("=", 1)[1]) for p in batches],
        ignore_index=True,
    )
