"""The prospective evaluation: what the previous run's users reviewed next, and only that,
scores lists built from what came before. (``evaluate`` itself is tested in
test_recommend.py; the whole of it on two scheduled runs in e2e/test_intervals.py.)"""

from __future__ import annotations

from datetime import datetime

import pyarrow.parquet as pq

from ml.prospective import empty_table, prospective_evaluation, prospective_split
from ml.recommend import RecommenderConfig, write_rows
from usersegments.config import Settings

CUT = datetime(2016, 1, 1)


def pairs(frame) -> set[tuple[str, str]]:
    return {(row["user_key"], row["item_id"]) for row in frame.collect()}


def members(frame, users: dict[str, int]):
    return frame(list(users.items()), "user_key string, segment_id long")


def test_next_items_are_new_items_of_the_previous_runs_users(reviews, frame):
    history = reviews(
        [
            ("a", "x", 5, "2015-03-01"),
            ("a", "y", 4, "2015-12-31 23:59:59"),
            ("a", "y", 5, "2016-02-01"),  # reviewed again: no list showed it
            ("a", "z", 4, "2016-01-01"),  # on the cut: next
            ("b", "x", 3, "2015-06-01"),
            ("b", "w", 5, "2016-07-01"),
            ("b", "w", 4, "2016-08-01"),  # the same item twice: one pair
            ("c", "x", 5, "2016-03-01"),  # not in the previous run: it had no list
        ]
    )
    train, next_items = prospective_split(history, members(frame, {"a": 0, "b": 1}), CUT)
    assert {row["review_key"] for row in train.collect()} == {"r0", "r1", "r4"}
    assert pairs(next_items) == {("a", "z"), ("b", "w")}


def test_no_window_without_a_previous_run_of_known_as_of(reviews):
    history = reviews([("a", "x", 5, "2015-01-01")])
    config = RecommenderConfig()
    assert prospective_evaluation(history, None, None, CUT, config).empty
    manual = {"run_id": "manual__2016-02-01", "as_of": None}
    table = prospective_evaluation(history, manual, None, CUT, config)
    assert table.empty and "lists_run_id" in table.columns and "ndcg_high" in table.columns


def test_an_empty_window_is_written_with_its_types(tmp_path):
    settings = Settings.from_env({"USERSEGMENTS_DATA_DIR": str(tmp_path)})
    write_rows(settings, "prospective_evaluation", "r1", empty_table().assign(mlflow_run_id="m"))
    folder = settings.lake.recommendations("prospective_evaluation", "r1")
    schema = pq.read_schema(folder / "part-0.parquet")
    types = {name: str(schema.field(name).type) for name in schema.names}
    assert types["recommender"] == "string" and types["lists_run_id"] == "string"
    assert types["segment_id"] == "int64" and types["hit_rate"] == "double"
    assert types["window_start"] == "timestamp[us]" and types["mlflow_run_id"] == "string"
