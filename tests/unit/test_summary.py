"""The run summary's text: the segmentation line says whether the run refitted."""

from __future__ import annotations

import math

import pandas as pd

from usersegments.summary import format_summary, json_value


def summary(**segmentation) -> dict:
    seg = {
        "algorithm": "kmeans",
        "k": 3,
        "k_selection": "forced",
        "fit_start": "cold",
        "silhouette": 0.5,
        "ari_previous": None,
        "segments": [],
        **segmentation,
    }
    return {
        "run_id": "r",
        "lines_read": 1,
        "rows_loaded": 1,
        "rows_quarantined": 0,
        "quarantine_reasons": {},
        "files": [],
        "lake_files": [],
        "retired": [],
        "published": {},
        "embeddings": {"model_version": "v", "embedded_this_run": 1, "reviews_embedded_total": 1},
        "segmentation": seg,
        "expectations": [],
        "warehouse": "w",
        "data_docs": "d",
        "segment_report": "s",
    }


def test_the_summary_says_why_a_run_refitted_or_which_model_placed_it():
    refit = format_summary(summary(is_refit=True, refit_reason="first run"))
    placed = format_summary(summary(is_refit=False, model_run_id="backfill__2013"))
    older = format_summary(summary())
    assert "  refit: first run" in refit.splitlines()
    assert "  placed by the model of run backfill__2013 (no refit)" in placed.splitlines()
    assert "refit" not in older
    # a placing run's k is its model's: no selection or start of its own
    assert "  segments (kmeans, k=3, silhouette 0.5000)" in placed.splitlines()
    assert "  segments (kmeans, k=3 by forced, cold start, silhouette 0.5000)" in refit.splitlines()


def test_a_run_without_the_offline_evaluation_says_so():
    recommended = {"top_n": 10, "users_recommended": 3, "offline_evaluation": False}
    text = format_summary({**summary(), "recommendations": recommended})
    line = "  recommendations: top 10 for 3 users; not evaluated (offline_evaluation off)"
    assert line in text.splitlines()


def test_warehouse_values_become_json():
    assert json_value(math.nan) is None and json_value(pd.NaT) is None
    assert json_value(pd.Timestamp("2016-01-01")) == "2016-01-01T00:00:00"
    assert json_value(3) == 3 and json_value("x") == "x"


def test_recommenders_are_printed_with_their_intervals_and_the_baselines_choice():
    recommended = {
        "top_n": 10,
        "users_recommended": 3,
        "holdout_users": 2,
        "evaluation_segmentation": {"ari_published": 1.0},
        "baselines": {
            "item_knn_neighbours": 50,
            "als_rank": 64,
            "als_reg_param": 0.1,
            "als_alpha": 10.0,
            "validation_ndcg": {},
        },
        "overall": {
            "segment_popularity": {
                "hit_rate": 0.5,
                "ndcg": 0.25,
                "catalogue_coverage": 0.1,
                "hit_rate_low": 0.0,
                "hit_rate_high": 1.0,
                "ndcg_low": 0.0,
                "ndcg_high": 0.5,
            },
            "older_run": {"hit_rate": 0.5, "ndcg": 0.25, "catalogue_coverage": 0.1},
        },
    }
    text = format_summary({**summary(), "recommendations": recommended})
    row = next(line for line in text.splitlines() if "segment_popularity" in line)
    assert "0.5000 [0.0000, 1.0000]" in row and "0.2500 [0.0000, 0.5000]" in row
    assert "0.5000 " in next(line for line in text.splitlines() if "older_run" in line)
    chosen = next(line for line in text.splitlines() if "validation split" in line)
    assert "50 neighbours" in chosen and "ALS rank 64" in chosen and "alpha 10.0" in chosen


def test_the_previous_runs_lists_are_printed_on_what_came_next():
    metrics = {"hit_rate": 0.2, "ndcg": 0.1, "catalogue_coverage": 0.05}
    recommended = {
        "top_n": 10,
        "users_recommended": 3,
        "holdout_users": 2,
        "evaluation_segmentation": {"ari_published": 1.0},
        "overall": {"item_knn": metrics},
        "prospective": {
            "lists_run_id": "scheduled__2016-01-01",
            "window_start": "2016-01-01 00:00:00",
            "window_end": "2017-01-01 00:00:00",
            "users": 412,
            "overall": {"item_knn": {**metrics, "hit_rate": 0.125}},
        },
    }
    lines = format_summary({**summary(), "recommendations": recommended}).splitlines()
    header = next(i for i, line in enumerate(lines) if "prospective" in line)
    assert "scheduled__2016-01-01" in lines[header] and "412 of its users" in lines[header]
    assert "2016-01-01 00:00:00 to 2017-01-01 00:00:00" in lines[header]
    assert "item_knn" in lines[header + 2] and "0.1250" in lines[header + 2]
