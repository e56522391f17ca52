"""Formatting and linting are enforced: ruff on the Python, sqlfluff on the dbt SQL
(configured in pyproject.toml and dbt_project/.sqlfluff; `make format` fixes most)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from usersegments.config import DBT_PROJECT_DIR, PROJECT_DIR

BIN = Path(sys.executable).parent


def run(*command: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_python_is_formatted_and_lint_free():
    checked = run(str(BIN / "ruff"), "check", ".")
    assert checked.returncode == 0, checked.stdout[-3000:]
    formatted = run(str(BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout[-3000:]


def test_dbt_sql_is_lint_free():
    linted = run(
        str(BIN / "sqlfluff"), "lint", "models", "macros", "seeds", "tests", cwd=DBT_PROJECT_DIR
    )
    assert linted.returncode == 0, linted.stdout[-3000:]
