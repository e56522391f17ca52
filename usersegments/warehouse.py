"""Reading the lake and the warehouse from Python (quality checks, run summaries, tests)."""

from __future__ import annotations

import pandas as pd

from usersegments.config import Settings


def connect(settings: Settings):
    """A connection to the warehouse file.

    Not read-only on purpose: DuckDB refuses a second connection with a different
    configuration inside one process, and under `airflow dags test` dbt (in-process,
    via cosmos) already holds a read-write one. Callers here only read.
    """
    import duckdb

    return duckdb.connect(str(settings.warehouse_path))


def read_table(settings: Settings, table: str) -> pd.DataFrame:
    with connect(settings) as con:
        return con.sql(f'select * from "{table}"').df()


def read_raw_reviews(settings: Settings) -> pd.DataFrame:
    import duckdb

    pattern = settings.lake_dir / "raw" / "reviews" / "*.parquet"
    with duckdb.connect() as con:
        return con.sql(
            "select * from read_parquet(?, union_by_name = true)", params=[str(pattern)]
        ).df()


def table_counts(settings: Settings, tables: list[str]) -> dict[str, int]:
    with connect(settings) as con:
        return {t: con.sql(f'select count(*) from "{t}"').fetchall()[0][0] for t in tables}
