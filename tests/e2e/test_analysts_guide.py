"""Every SQL example of docs/analysts-guide.md runs on a real pipeline run's warehouse
and returns rows."""

from __future__ import annotations

import re

import pytest

from usersegments.config import PROJECT_DIR
from usersegments.warehouse import connect

GUIDE = PROJECT_DIR / "docs" / "analysts-guide.md"
QUERIES = re.findall(r"```sql\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_has_its_examples():
    assert len(QUERIES) >= 8


@pytest.mark.parametrize("query", QUERIES, ids=[f"query{i + 1}" for i in range(len(QUERIES))])
def test_guide_query_answers_on_the_real_data(demo_run, query):
    with connect(demo_run.settings) as con:
        result = con.sql(query)
        rows = result.fetchall()
    assert rows, f"no rows from:\n{query}"
    assert all(any(value is not None for value in row) for row in rows)
