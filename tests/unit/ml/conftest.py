"""Fixtures of the ML unit tests: small Spark frames in the layer's local session."""

from __future__ import annotations

from datetime import datetime

import pytest


@pytest.fixture
def frame(spark):
    def make(rows, schema):
        return spark.createDataFrame(rows, schema)

    return make


@pytest.fixture
def reviews(spark):
    def make(rows):
        rows = [
            (u, i, float(r), datetime.fromisoformat(t), f"r{n}")
            for n, (u, i, r, t) in enumerate(rows)
        ]
        # timestamp_ntz: the type DuckDB writes to the lake
        schema = "user_key string, item_id string, rating double, reviewed_at timestamp_ntz, review_key string"
        return spark.createDataFrame(rows, schema)

    return make
