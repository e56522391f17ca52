"""The baselines' hyperparameters: item-kNN's neighbours and ALS's rank, regularisation
and alpha, each chosen by NDCG on a validation split carved from the training reviews
alone (each user's latest training item), so no search sees a held-out review."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame

from ml.als import AlsParams, choose_als, logged_params
from ml.config import RecommenderConfig
from ml.item_knn import choose_neighbours, latest_item_split


def validation_split(train: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(seen, validation): the distinct (user_key, item_id) of ``train`` without each
    user's latest item, and those latest items (``latest_item_split``), both
    materialised: every candidate of every baseline's search reads them."""
    fit, validation = latest_item_split(train)
    seen = fit.select("user_key", "item_id").distinct()
    return seen.localCheckpoint(), validation.localCheckpoint()


@dataclass(frozen=True)
class Tuning:
    neighbours: int  # item-kNN's
    als: AlsParams

    def params(self) -> dict[str, float]:
        """MLflow parameters of the choice."""
        return {"item_knn_neighbours": self.neighbours, **logged_params(self.als)}


def choose_tuning(train: DataFrame, config: RecommenderConfig) -> tuple[Tuning, dict[str, float]]:
    """The chosen hyperparameters, and every candidate's validation NDCG@top_n by name
    (``item_knn.neighbours_<n>``, ``als.<params>``)."""
    seen, validation = validation_split(train)
    neighbours, knn_scores = choose_neighbours(seen, validation, config.top_n)
    als, als_scores = choose_als(seen, validation, config.top_n, config.seed)
    scores = {f"item_knn.neighbours_{n}": score for n, score in knn_scores.items()}
    scores.update({f"als.{label}": score for label, score in als_scores.items()})
    return Tuning(neighbours, als), scores
