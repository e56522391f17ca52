"""Classification scores, the same for every candidate, the baseline and the gate.

Every score is a function of the confusion matrix, so a held-out set of any size is
scored by adding up the matrices of its batches (``ml.data.Split.batches``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_counts(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """Counts[true class, predicted class]; the last column counts predictions of a
    label outside ``classes`` (wrong for every true class)."""
    index = {label: i for i, label in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes) + 1), dtype=np.int64)
    for truth, guess in zip(y_true, y_pred, strict=True):
        matrix[index[truth], index.get(guess, len(classes))] += 1
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a class never predicted
    scores 0, not NaN)."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def metrics_from_confusion(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro and weighted precision/recall/F1, and per-class precision,
    recall, F1 and support (``f1_<class>``), as scikit-learn defines them."""
    hits = np.diag(matrix[:, : len(classes)]).astype(float)
    support = matrix.sum(axis=1).astype(float)
    precision = _ratio(hits, matrix[:, : len(classes)].sum(axis=0).astype(float))
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    users = max(support.sum(), 1.0)
    scores = {"accuracy": float(hits.sum() / users)}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        scores[f"macro_{name}"] = float(values.mean())
        scores[f"weighted_{name}"] = float(values @ support / users)
    for i, label in enumerate(classes):
        scores.update(
            {
                f"precision_{label}": float(precision[i]),
                f"recall_{label}": float(recall[i]),
                f"f1_{label}": float(f1[i]),
                f"support_{label}": float(support[i]),
            }
        )
    return scores


def per_class_f1(scores: dict[str, float], classes: Sequence[str]) -> dict[str, float]:
    return {label: scores[f"f1_{label}"] for label in classes}


def confusion_figure(matrix: np.ndarray, classes: Sequence[str], title: str):
    """The confusion matrix (rows: true label) as a matplotlib figure, counts annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = matrix[:, : len(classes)]
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
        )
    figure.tight_layout()
    return figure
