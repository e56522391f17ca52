"""dbt-duckdb plugin: SQL functions the cleaning models need and DuckDB lacks.

Registered on every connection dbt opens (see ``plugins`` in dbt_project/profiles.yml).
The pseudonymisation key is read here, from configuration, so it never appears in
compiled SQL, dbt logs or the manifest.
"""

from __future__ import annotations

import hashlib
import hmac
import html

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from usersegments.config import Settings, load_pseudonym_key


def pseudonymize(key: bytes, value: str) -> str:
    """HMAC-SHA256 of a user id: stable for one key, not reversible without it."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _register(conn: DuckDBPyConnection, name: str, function) -> None:
    # Python functions land in the database instance's catalog, which every connection
    # dbt-duckdb opens to the same file shares: register once per instance.
    registered = conn.execute(
        "select count(*) from duckdb_functions() where function_name = ?", [name]
    ).fetchall()[0][0]
    if not registered:
        conn.create_function(name, function, [VARCHAR], VARCHAR)


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        # dbt calls the plugin: an entry point, so it builds the settings itself
        key = load_pseudonym_key(Settings.from_env())
        _register(conn, "pseudonymize", lambda value: pseudonymize(key, value))
        # Review text carries HTML entities (&#34;, &amp;, &nbsp;, ...): decode them all,
        # numeric ones included, as the browser that rendered the review did.
        _register(conn, "decode_html_entities", html.unescape)
