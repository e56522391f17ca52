-- Functions the dbt models need in the PostgreSQL warehouse, installed once by a
-- superuser (the compose file's PostgreSQL runs it at first start; the integration test
-- runs it on its own cluster). PL/Python is an untrusted language: dbt's role can call
-- the function but not create it.
--
-- decode_html_entities: Python's html.unescape, exactly what the dbt-duckdb plugin
-- registers in DuckDB (usersegments/dbt_functions.py), so both warehouses clean review
-- text identically.
create extension if not exists plpython3u;

create or replace function public.decode_html_entities(value text)
returns text
language plpython3u
immutable
parallel safe
as $$
import html
return None if value is None else html.unescape(value)
$$;

grant execute on function public.decode_html_entities(text) to public;
