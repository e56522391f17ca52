"""Classification scores, the same for every candidate, the baseline and the gate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> dict[str, float]:
    """Accuracy, macro and weighted precision/recall/F1, and per-class precision,
    recall and F1 (``f1_<class>``); a class never predicted scores 0, not NaN."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    scores = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=list(classes), average=average, zero_division=0
        )
        scores.update(
            {
                f"{average}_precision": float(p),
                f"{average}_recall": float(r),
                f"{average}_f1": float(f),
            }
        )
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), average=None, zero_division=0
    )
    for i, label in enumerate(classes):
        scores.update(
            {
                f"precision_{label}": float(p[i]),
                f"recall_{label}": float(r[i]),
                f"f1_{label}": float(f[i]),
                f"support_{label}": float(support[i]),
            }
        )
    return scores


def per_class_f1(scores: dict[str, float], classes: Sequence[str]) -> dict[str, float]:
    return {label: scores[f"f1_{label}"] for label in classes}


def confusion_figure(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], title: str
):
    """The confusion matrix (rows: true label) as a matplotlib figure, counts annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(classes))
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
