"""sqlfluff's stand-in for dbt's cross-database macros (``dbt.datediff``) while linting."""


def datediff(first, second, datepart):
    return f"datediff('{datepart}', {first}, {second})"
