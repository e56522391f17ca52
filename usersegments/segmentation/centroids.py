"""Placing vectors by a run's centroids (numpy, no Spark): the segmentation job's
placing runs and the scoring DAG assign users the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def nearest(vectors: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre (its index) and the Euclidean distance to it:
    O(rows x centres x dimensions)."""
    squared = (
        (vectors * vectors).sum(axis=1)[:, None]
        - 2 * vectors @ centers.T
        + (centers * centers).sum(axis=1)[None, :]
    )
    index = squared.argmin(axis=1)
    distances = np.sqrt(np.maximum(squared[np.arange(len(vectors)), index], 0.0))
    return index, distances


@dataclass(frozen=True)
class NearestCentroid:
    """Saved centroids as a model with scikit-learn's ``predict``."""

    centers: np.ndarray

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        return nearest(vectors, self.centers)[0]
