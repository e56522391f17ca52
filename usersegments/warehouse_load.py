"""Moving tables between the lake (Parquet) and a PostgreSQL warehouse.

DuckDB reads the lake in place (the sources' ``external_location``) and writes the
exported marts with a dbt post-hook (``export_to_lake``). PostgreSQL can do neither, so
in the production profile the DAG runs these two steps around dbt:

- ``load_source``: before a dbt group, copy a dbt source's lake files into the
  warehouse schema of that source (the schema dbt-postgres reads ``source()`` from).
  The files are read with the same ``external_location`` the DuckDB profile uses, so
  both warehouses see the same rows. Raw reviewer ids are replaced by their keyed hash
  here, and free-text personal columns are left out, so they never reach the server.
- ``export_marts``: after the marts, write the models that carry the ``export_to_lake``
  post-hook to lake/clean/ as Parquet, in the types DuckDB's export has.

Both replace what was there (one transaction, one file rename): reruns are idempotent.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import yaml

from usersegments.config import DBT_PROJECT_DIR, MANIFEST_PATH, Settings, load_pseudonym_key

log = logging.getLogger(__name__)

# Columns of the raw lake that must not reach a warehouse server: ids are keyed-hashed,
# the rest left out (dbt's staging does not read them).
PSEUDONYMISED_COLUMNS = {("amazon", "reviews"): ["reviewer_id"]}
EXCLUDED_COLUMNS = {
    ("amazon", "reviews"): ["reviewer_name"],
    ("amazon", "quarantine"): ["raw_line"],
}

# DuckDB's type names (of a relation over the lake files) -> PostgreSQL column types
POSTGRES_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def connect(settings: Settings):
    """A psycopg2 connection to the warehouse database, search path on the dbt schema."""
    import psycopg2

    server = settings.postgres
    if server is None:
        raise ValueError(f"profile {settings.profile}: no PostgreSQL warehouse is configured")
    return psycopg2.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        dbname=server.database,
        options=f"-c search_path={settings.warehouse_schema}",
        application_name="usersegments",
    )


def source_locations(source: str, settings: Settings) -> dict[str, str]:
    """Table -> the DuckDB expression reading its lake files, from the dbt source's YAML."""
    for path in sorted((DBT_PROJECT_DIR / "models").rglob("_*__sources.yml")):
        for entry in yaml.safe_load(path.read_text()).get("sources", []):
            if entry["name"] == source:
                location = entry["meta"]["external_location"].replace(
                    "{{ env_var('USERSEGMENTS_DATA_DIR') }}", str(settings.data_dir)
                )
                return {
                    table["name"]: location.format(name=table["name"]) for table in entry["tables"]
                }
    raise KeyError(f"no dbt source named {source!r} under {DBT_PROJECT_DIR / 'models'}")


def load_source(source: str, settings: Settings) -> dict[str, int]:
    """Copy one dbt source's lake tables into the warehouse schema ``source``; rows per table."""
    if not settings.production:
        log.info(
            "profile %s: dbt-duckdb reads the %s lake files in place",
            settings.profile,
            source,
        )
        return {}
    import duckdb

    from usersegments.dbt_functions import pseudonymize

    key = load_pseudonym_key(settings)
    counts = {}
    with (
        duckdb.connect() as lake,
        connect(settings) as warehouse,
        tempfile.TemporaryDirectory() as tmp,
    ):
        lake.create_function(
            "pseudonymize",
            lambda value: pseudonymize(key, value),
            ["VARCHAR"],
            "VARCHAR",
        )
        with warehouse.cursor() as cursor:
            # dbt's schema too, before dbt's tasks run in parallel: two sessions'
            # concurrent `create schema if not exists` race in PostgreSQL's catalog
            # (one fails on pg_namespace's unique index), as a first run showed
            cursor.execute(f'create schema if not exists "{settings.warehouse_schema}"')
            cursor.execute(f'create schema if not exists "{source}"')
        for table, location in source_locations(source, settings).items():
            relation = lake.sql(f"select * from {location}")
            excluded = EXCLUDED_COLUMNS.get((source, table), [])
            hashed = PSEUDONYMISED_COLUMNS.get((source, table), [])
            columns = [
                (c, t)
                for c, t in zip(relation.columns, relation.types, strict=True)
                if c not in excluded
            ]
            select = ", ".join(
                f'pseudonymize("{c}") as "{c}"' if c in hashed else f'"{c}"' for c, _ in columns
            )
            csv_path = Path(tmp) / f"{table}.csv"
            lake.sql(
                f"copy (select {select} from {location}) to '{csv_path}' (format csv, header false)"
            )
            ddl = ", ".join(f'"{c}" {postgres_type(str(t), source, table, c)}' for c, t in columns)
            with warehouse.cursor() as cursor:
                cursor.execute(f'drop table if exists "{source}"."{table}"')
                cursor.execute(f'create table "{source}"."{table}" ({ddl})')
                with csv_path.open() as handle:
                    cursor.copy_expert(
                        f'copy "{source}"."{table}" ({", ".join(chr(34) + c + chr(34) for c, _ in columns)}) '
                        "from stdin with (format csv)",
                        handle,
                    )
                cursor.execute(f'select count(*) from "{source}"."{table}"')
                counts[table] = cursor.fetchone()[0]
        warehouse.commit()
    log.info("loaded source %s into the warehouse: %s", source, counts)
    return counts


def postgres_type(duckdb_type: str, source: str, table: str, column: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "numeric" + duckdb_type[len("DECIMAL") :]
    try:
        return POSTGRES_TYPES[duckdb_type]
    except KeyError:
        raise TypeError(
            f"{source}.{table}.{column}: no PostgreSQL type for lake type {duckdb_type}"
        ) from None


def exported_models() -> list[str]:
    """The models whose dbt post-hook exports them to the lake (``export_to_lake``)."""
    manifest = json.loads(MANIFEST_PATH.read_text())
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and any("export_to_lake" in hook["sql"] for hook in node["config"].get("post-hook", []))
    )


def export_marts(settings: Settings) -> dict[str, int]:
    """Write the exported models from the PostgreSQL warehouse to lake/clean/<model>.parquet."""
    if not settings.production:
        log.info(
            "profile %s: dbt-duckdb's export_to_lake post-hook wrote lake/clean",
            settings.profile,
        )
        return {}
    counts = {
        model: export_table(settings, model, settings.lake.clean(model))
        for model in exported_models()
    }
    log.info("exported marts to %s: %s", settings.lake.clean_dir, counts)
    return counts


EXPORT_BATCH_ROWS = 50_000


def export_table(settings: Settings, table: str, target: Path) -> int:
    """Write a warehouse table to one Parquet file at ``target``, in DuckDB's export
    types, ordered by every column, atomically; returns its rows. Streamed: a
    server-side cursor, EXPORT_BATCH_ROWS rows at a time, so memory does not grow with
    the table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with connect(settings) as warehouse:
        with warehouse.cursor() as cursor:
            cursor.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (settings.warehouse_schema, table),
            )
            schema = pa.schema(
                [(name, arrow_type(kind, table, name)) for name, kind in cursor.fetchall()]
            )
        ordering = ", ".join(str(i + 1) for i in range(len(schema)))
        partial = target.with_name(f".{target.name}.tmp")
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = 0
        with (
            warehouse.cursor(name=f"export_{table}") as cursor,
            pq.ParquetWriter(partial, schema) as writer,
        ):
            cursor.itersize = EXPORT_BATCH_ROWS
            cursor.execute(f'select * from "{table}" order by {ordering}')
            while batch := cursor.fetchmany(EXPORT_BATCH_ROWS):
                columns = {
                    field.name: pa.array([row[i] for row in batch], type=field.type)
                    for i, field in enumerate(schema)
                }
                writer.write_table(pa.table(columns, schema=schema))
                rows += len(batch)
    os.replace(partial, target)
    return rows


def arrow_type(postgres_type: str, model: str, column: str):
    import pyarrow as pa

    types = {
        "text": pa.string(),
        "character varying": pa.string(),
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "smallint": pa.int16(),
        "double precision": pa.float64(),
        "real": pa.float32(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp without time zone": pa.timestamp("us"),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    }
    try:
        return types[postgres_type]
    except KeyError:
        raise TypeError(
            f"{model}.{column}: no Parquet type for warehouse type {postgres_type}"
        ) from None
