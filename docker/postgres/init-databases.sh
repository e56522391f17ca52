#!/bin/bash
# First start only (the image's docker-entrypoint-initdb.d): one login role for the
# platform, owning the three databases; the warehouse's functions installed as superuser.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$USERSEGMENTS_PG_USER" -v password="$USERSEGMENTS_PG_PASSWORD" <<'SQL'
create role :"role" login password :'password';
SQL
for database in "$AIRFLOW_DB" "$MLFLOW_DB" "$USERSEGMENTS_PG_DATABASE"; do
    createdb --username "$POSTGRES_USER" --owner "$USERSEGMENTS_PG_USER" "$database"
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$USERSEGMENTS_PG_DATABASE" \
    -f /docker-entrypoint-initdb.d/warehouse-functions.sql.in
