"""`make demo`, the README's command, as the end-to-end tests' shared run (the 2019
interval of two files, after the 2016 one): it prints the run summary and scores every
user with the scoring DAG."""

from __future__ import annotations

import re

from tests.e2e.conftest import USERS
from usersegments.warehouse import connect


def test_make_demo_prints_the_summary_and_scores_every_user(demo_run):
    out = demo_run.result.stdout
    assert re.search(r"^Run manual__", out, flags=re.M), out[-3000:]
    # the 2019 interval places its users with the 2016 interval's model
    assert re.search(r"segments \(kmeans, k=\d+, silhouette 0\.\d{4}, ARI", out), out[-3000:]
    assert re.search(r"^  placed by the model of run manual__\S+ \(no refit\)$", out, flags=re.M)
    assert "expectations (passed/evaluated, hard and soft failures)" in out
    assert f"recommendations: top 10 for {USERS:,} users" in out
    # the scoring DAG ran after the pipeline: every user of the run scored once
    with connect(demo_run.settings) as con:
        scored = con.sql(
            "select count(*), count(distinct user_key) from user_interest_scores"
        ).fetchall()[0]
    assert scored == (USERS, USERS)


def test_what_the_demo_writes_is_the_owners_alone(demo_run):
    """Raw ids and names (the raw lake), the warehouse, Airflow's metadata and the key:
    no group or other permission on anything the run created."""
    settings = demo_run.settings
    airflow_db = settings.data_dir / "airflow" / "airflow.db"
    for private in (settings.lake.raw_reviews("Appliances_5"), settings.warehouse_path, airflow_db):
        assert private.exists(), private
    exposed = [
        f"{oct(path.stat().st_mode & 0o777)} {path}"
        for path in settings.data_dir.rglob("*")
        if not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert not exposed, exposed[:20]
