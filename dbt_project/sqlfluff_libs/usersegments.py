"""sqlfluff's stand-in for the project's own macros called by namespace
(``usersegments.<macro>()``) while linting: each renders as a SQL literal."""


def whitespace_run_pattern():
    return "'[\\s]+'"
