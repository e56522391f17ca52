"""Which users the scoring DAG reads: the run's features less every scored user."""

from __future__ import annotations

import duckdb
import pandas as pd

from ml.scoring import unscored_query
from usersegments.config import Settings


def test_unscored_users_are_the_features_less_every_scoring_run(tmp_path):
    settings = Settings(data_dir=tmp_path, source_dir=tmp_path)
    features = settings.lake.segmentation("features", "run1")
    features.mkdir(parents=True)
    frame = pd.DataFrame({"user_key": ["c", "a", "d", "b"], "f_0": [3.0, 1.0, 4.0, 2.0]})
    frame.to_parquet(features / "part-0.parquet", index=False)

    def unscored() -> list[str]:
        query = unscored_query(settings, "run1")
        return [user for (user, _) in duckdb.sql(query).fetchall()]

    assert unscored() == ["a", "b", "c", "d"]  # ordered by user, nobody scored yet
    for run, users in (("s1", ["b"]), ("s2", ["d", "x"])):
        batch = settings.lake.scores(run)
        batch.mkdir(parents=True)
        pd.DataFrame({"user_key": users}).to_parquet(batch / "part-0.parquet", index=False)
    # a failed run's unfinished file is not a batch
    (settings.lake.scores("s3") / ".part-0.parquet.tmp").parent.mkdir(parents=True)
    (settings.lake.scores("s3") / ".part-0.parquet.tmp").write_bytes(b"partial")
    assert unscored() == ["a", "c"]
