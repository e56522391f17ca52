"""Write-audit-publish of the warehouse: a run's tables all at once, or none.

A pipeline run builds its dbt models apart from the published warehouse (the DuckDB
file ``warehouse/building.duckdb``, or the PostgreSQL schema ``analytics_build``:
``Settings.for_build()``). Its gates (the GX checkpoints and dbt's tests) audit the
build; ``publish_build`` then moves every built table to the published warehouse in
one transaction. A run that fails anywhere publishes nothing: analysts keep reading
the previous run's tables, all of one run. Tables the pipeline does not build (the
scoring DAG's) stay as they are.

Cost: publishing copies the built tables once (DuckDB, O(warehouse size)) or moves
them without copying (PostgreSQL, ``alter table ... set schema``).
"""

from __future__ import annotations

from usersegments.config import Settings


def start_build(settings: Settings) -> None:
    """An empty build for this run: a failed earlier run's build is dropped."""
    build = settings.for_build()
    if settings.production:
        from usersegments.warehouse_load import connect

        with connect(build) as con, con.cursor() as cursor:
            cursor.execute(f'drop schema if exists "{build.warehouse_schema}" cascade')
            cursor.execute(f'create schema "{build.warehouse_schema}"')
        return
    build.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (build.warehouse_path, build.warehouse_path.with_name("building.duckdb.wal")):
        leftover.unlink(missing_ok=True)


def publish_build(settings: Settings) -> dict[str, int]:
    """Replace the published tables by the build's, in one transaction; rows per table."""
    return _publish_postgres(settings) if settings.production else _publish_duckdb(settings)


def _publish_duckdb(settings: Settings) -> dict[str, int]:
    import duckdb

    build, published = settings.for_build().warehouse_path, settings.published().warehouse_path
    # Connected to the build, the published file attached: DuckDB opens a file once per
    # process, and under `airflow dags test` dbt (in-process) still holds the build.
    with duckdb.connect(str(build)) as con:
        (catalog,) = con.execute("select current_database()").fetchone()
        tables = con.execute(
            "select table_name, sql from duckdb_tables() "
            "where database_name = ? and schema_name = 'main' order by table_name",
            [catalog],
        ).fetchall()
        if not tables:
            raise RuntimeError(f"{build}: nothing was built, nothing to publish")
        con.execute(f"attach '{published}' as published")
        con.execute("use published")
        con.execute("begin transaction")
        for table, create in tables:
            # the build's own DDL: its types and constraints (dbt contracts), not CTAS's
            con.execute(f'drop table if exists published.main."{table}"')
            con.execute(create)
            con.execute(
                f'insert into published.main."{table}" select * from "{catalog}".main."{table}"'
            )
        con.execute("commit")
        counts = {
            t: con.execute(f'select count(*) from published.main."{t}"').fetchone()[0]
            for t, _ in tables
        }
        con.execute(f'use "{catalog}"')
        con.execute("detach published")
    return counts


def _publish_postgres(settings: Settings) -> dict[str, int]:
    from usersegments.warehouse_load import connect

    build, published = settings.for_build().warehouse_schema, settings.published().warehouse_schema
    with connect(settings.published()) as con, con.cursor() as cursor:
        cursor.execute(
            "select table_name from information_schema.tables "
            "where table_schema = %s and table_type = 'BASE TABLE' order by table_name",
            (build,),
        )
        tables = [table for (table,) in cursor.fetchall()]
        if not tables:
            raise RuntimeError(f"schema {build}: nothing was built, nothing to publish")
        cursor.execute(f'create schema if not exists "{published}"')
        for table in tables:
            # as dbt-postgres replaces a table: whatever depends on the old one goes too
            cursor.execute(f'drop table if exists "{published}"."{table}" cascade')
            cursor.execute(f'alter table "{build}"."{table}" set schema "{published}"')
        counts = {}
        for table in tables:
            cursor.execute(f'select count(*) from "{published}"."{table}"')
            counts[table] = cursor.fetchone()[0]
    # psycopg2's `with connection` commits here: one transaction
    return counts
