"""`make demo`, the README's command, as the end-to-end tests' shared run: it prints the
run summary and scores every user with the scoring DAG."""

from __future__ import annotations

import re

from usersegments.warehouse import connect

USERS = 3_667


def test_make_demo_prints_the_summary_and_scores_every_user(full_run):
    out = full_run.result.stdout
    assert re.search(r"^Run manual__", out, flags=re.M), out[-3000:]
    assert re.search(r"segments \(kmeans, k=\d+ by silhouette, silhouette 0\.\d{4}", out)
    assert "expectations (passed/evaluated, hard and soft failures)" in out
    assert "recommendations: top 10 for 3,667 users" in out
    # the scoring DAG ran after the pipeline: every user of the run scored once
    with connect(full_run.settings) as con:
        scored = con.sql(
            "select count(*), count(distinct user_key) from user_interest_scores"
        ).fetchall()[0]
    assert scored == (USERS, USERS)
