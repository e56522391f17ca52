"""The ML steps' tunable parameters, as data apart from the code that uses them (the
DAG's trigger form reads its defaults here without importing pandas or MLflow)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecommenderConfig:
    top_n: int = 10  # list length, and the k of the @k metrics
    half_life_days: float = 365.0
    seed: int = 42  # the random baseline's


@dataclass(frozen=True)
class GatePolicy:
    """When the challenger may become champion."""

    margin: float = 0.01  # macro F1 the challenger must gain over the champion
    class_f1_floor: float = 0.5  # lowest per-class F1 a champion may have
