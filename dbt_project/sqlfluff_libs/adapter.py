"""sqlfluff's stand-in for dbt's ``adapter`` while linting with the jinja templater:
``adapter.dispatch('name', ...)(args)`` renders as a call ``name(args)``, which is what
the DuckDB implementations of the project's dispatched macros are."""


def dispatch(name, macro_namespace=None):
    return lambda *args: f"{name}({', '.join(str(a) for a in args)})"
