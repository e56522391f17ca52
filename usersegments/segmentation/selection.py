"""Fitting each candidate k with restarts, scoring it, and choosing k, on a bounded sample.

Why scikit-learn and the driver, not MLlib: several seeded starts per k (``restarts``)
and refits on seeded subsamples (``subsamples``) make hundreds of fits per run, and
MLlib pays seconds of job overhead per fit where scikit-learn takes tenths (the stack
findings: k = 8 on 10,000 x 400, 7-11 s against 0.6 s). The sample is at most
clustering.SWEEP_SAMPLE users, so the driver holds at most 50,000 x d doubles whatever
the data size; Spark then places every user with the fitted model (clustering.place).

Why the canonical order: a seeded start picks rows by position, and the positions of
users follow their keys (an HMAC of the reviewer id under the secret key). The sample
is sorted by its (rounded) feature values first, a function of the data only, so the
key and the partitioning no longer change what the starts see.

Cost per k: (1 + subsamples) fits of ``restarts`` starts, O(n·k·d) per iteration, and a
silhouette per fit, O(n·k·d) (squared Euclidean, exact: cluster sums, not pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import BisectingKMeans, KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

# Rounding before the canonical sort: float noise (summation order) must not reorder rows.
ORDER_DECIMALS = 9


@dataclass(frozen=True)
class KScore:
    """One candidate k, fitted on the sample and on its subsamples."""

    k: int
    silhouette: float  # mean over users (squared Euclidean, as MLlib's evaluator)
    macro_silhouette: float  # mean over segments of their users' mean: one big one cannot carry it
    macro_silhouette_noise: float  # its standard deviation over the subsample fits
    stability: float | None  # mean ARI of the subsample fits to the sample's fit
    cost: float
    min_size: int
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class Fitted:
    """One k fitted on the sample: the model, its labels and its subsample fits."""

    score: KScore
    model: object
    labels: np.ndarray
    subsample_labels: list[np.ndarray]


def canonical_order(matrix: np.ndarray) -> np.ndarray:
    """Row indices sorting the matrix by its rounded values, first column first."""
    rounded = np.round(matrix, ORDER_DECIMALS)
    return np.lexsort(rounded.T[::-1])


def estimator(algorithm: str, k: int, seed: int, restarts: int, max_iter: int, init=None):
    """The scikit-learn estimator of ``algorithm``; ``init``: start from these centres
    (k-means only: a warm start)."""
    if algorithm == "kmeans":
        if init is not None:
            return KMeans(k, init=init, n_init=1, max_iter=max_iter, random_state=seed)
        return KMeans(k, n_init=restarts, max_iter=max_iter, random_state=seed)
    if algorithm == "bisecting_kmeans":
        return BisectingKMeans(k, n_init=restarts, max_iter=max_iter, random_state=seed)
    return GaussianMixture(k, n_init=restarts, max_iter=max_iter, random_state=seed)


def fit(
    algorithm: str, matrix: np.ndarray, k: int, seed: int, restarts: int, max_iter: int, init=None
):
    """(model, labels, cost): the lowest-cost of ``restarts`` seeded starts (scikit-learn's
    n_init); the mixture's cost is its negative log-likelihood."""
    model = estimator(algorithm, k, seed, restarts, max_iter, init).fit(matrix)
    labels = model.predict(matrix)
    if algorithm == "gaussian_mixture":
        cost = -float(model.score(matrix)) * len(matrix)
    else:
        cost = float(model.inertia_)
    return model, labels, cost


def silhouettes(matrix: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's silhouette with squared Euclidean distances (MLlib's ClusteringEvaluator
    and scikit-learn's metric="sqeuclidean" agree on it); 0 in a one-member cluster.
    A row's mean distance to cluster c is |x|² - 2x·mean_c + mean_c(|y|²): O(n·k·d)."""
    clusters, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(clusters) < 2:
        return np.zeros(len(matrix))
    norms = np.einsum("ij,ij->i", matrix, matrix)
    sums = np.zeros((len(clusters), matrix.shape[1]))
    np.add.at(sums, index, matrix)
    norm_means = np.bincount(index, weights=norms) / counts
    means = sums / counts[:, None]
    distance = norms[:, None] - 2 * matrix @ means.T + norm_means[None, :]
    rows = np.arange(len(matrix))
    own_size = counts[index]
    # the mean over the others in its own cluster: the row itself added 0 to n terms
    inside = distance[rows, index] * own_size / np.maximum(own_size - 1, 1)
    distance[rows, index] = np.inf
    nearest = distance.min(axis=1)
    score = (nearest - inside) / np.maximum(np.maximum(nearest, inside), 1e-300)
    return np.where(own_size > 1, score, 0.0)


def macro_average(values: np.ndarray, labels: np.ndarray) -> float:
    """The mean over clusters of their members' mean."""
    _, index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return float(np.mean(np.bincount(index, weights=values) / counts))


def subsample_masks(rows: int, count: int, share: float, seed: int) -> list[np.ndarray]:
    """``count`` seeded subsets of ``share`` of the rows (by position: the rows are in
    canonical order, so the subsets do not depend on the key either)."""
    return [np.random.default_rng([seed, b]).random(rows) < share for b in range(count)]


def fit_k(matrix, k, algorithm, seed, restarts, max_iter, masks) -> Fitted:
    """Fit k on the sample and on each subsample, and score it."""
    model, labels, cost = fit(algorithm, matrix, k, seed, restarts, max_iter)
    per_row = silhouettes(matrix, labels)
    subsample_labels, agreements, macros = [], [], []
    for mask in masks:
        _, sub_labels, _ = fit(algorithm, matrix[mask], k, seed, restarts, max_iter)
        subsample_labels.append(sub_labels)
        agreements.append(adjusted_rand_score(labels[mask], sub_labels))
        macros.append(macro_average(silhouettes(matrix[mask], sub_labels), sub_labels))
    sizes = np.bincount(labels, minlength=k)
    score = KScore(
        k=k,
        silhouette=float(per_row.mean()),
        macro_silhouette=macro_average(per_row, labels),
        macro_silhouette_noise=float(np.std(macros)) if macros else 0.0,
        stability=float(np.mean(agreements)) if agreements else None,
        cost=cost,
        min_size=int(sizes.min()),
        sizes=tuple(int(s) for s in sizes),
    )
    return Fitted(score, model, labels, subsample_labels)


def choose_k(scores: list[KScore], min_size: int, min_stability: float) -> tuple[KScore, str]:
    """The chosen k and why.

    Admissible: the smallest segment has at least ``min_size`` users (if none is, all
    are: the segment-size expectation then stops the run). Of those, the stable ones
    (stability >= ``min_stability``; all admissible if none is). Among these, the best
    macro-silhouette sets a bar one noise (its standard deviation over subsamples) below
    it, and the smallest k that clears the bar wins: a higher k must be better than noise.
    """
    if not scores:
        raise ValueError("no candidate k was measured")
    admissible = [s for s in scores if s.min_size >= min_size] or scores
    stable = [s for s in admissible if s.stability is None or s.stability >= min_stability]
    pool = stable or admissible
    best = max(pool, key=lambda s: (round(s.macro_silhouette, 12), -s.k))
    bar = best.macro_silhouette - best.macro_silhouette_noise
    chosen = min((s for s in pool if s.macro_silhouette >= bar), key=lambda s: s.k)
    reason = "macro-silhouette within noise of the best" + (
        f", stability >= {min_stability}" if stable else ", no k stable enough"
    )
    return chosen, reason


def segment_stability(labels: np.ndarray, masks, subsample_labels) -> np.ndarray:
    """Per cluster of ``labels``: the mean over subsamples of its best Jaccard with a
    cluster of the subsample's fit, on the subsample's rows (fpc's clusterboot, subset
    scheme). NaN for a cluster absent from every subsample."""
    k = int(labels.max()) + 1
    totals, seen = np.zeros(k), np.zeros(k)
    for mask, sub in zip(masks, subsample_labels, strict=True):
        reference = labels[mask]
        table = np.zeros((k, int(sub.max()) + 1))
        np.add.at(table, (reference, sub), 1)
        union = table.sum(axis=1)[:, None] + table.sum(axis=0)[None, :] - table
        best = (table / np.maximum(union, 1)).max(axis=1)
        present = table.sum(axis=1) > 0
        totals[present] += best[present]
        seen[present] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals / seen


# A warm start is kept unless its cost exceeds the best cold start's by more than this:
# following the previous segments is worth a little cost, not a worse local optimum.
WARM_COST_TOLERANCE = 0.01


@dataclass(frozen=True)
class Selection:
    """What the sample's fits decided: every k's scores, the chosen k and its model."""

    scores: list[KScore]
    chosen: KScore
    reason: str  # why this k
    model: object  # scikit-learn, predicts a cluster index
    start: str  # "warm" (from the previous run's centroids) or "cold"
    warm_cost_ratio: float | None  # warm start's cost / best cold start's, if tried
    segment_stability: np.ndarray | None  # per cluster index; None without subsamples


def select(
    matrix: np.ndarray,
    ks: list[int],
    options,
    min_size: int,
    previous_centers: np.ndarray | None = None,
) -> Selection:
    """Fit every k in ``ks`` (``options``: a SegmentationOptions), choose one (or take
    the forced one), warm-start it from ``previous_centers`` when they have its k and
    dimensions (k-means), and measure its segments' stability."""
    masks = subsample_masks(len(matrix), options.subsamples, options.subsample_share, options.seed)
    fitted = {}
    for k in ks:
        fitted[k] = fit_k(
            matrix, k, options.algorithm, options.seed, options.restarts, options.max_iter, masks
        )
        s = fitted[k].score
        print(
            f"k={k} silhouette={s.silhouette:.4f} macro={s.macro_silhouette:.4f}"
            f"±{s.macro_silhouette_noise:.4f} stability={s.stability} sizes={list(s.sizes)}"
        )
    scores = [f.score for f in fitted.values()]
    if options.k:
        chosen, reason = fitted[options.k].score, "forced"
    else:
        chosen, reason = choose_k(scores, min_size, options.min_k_stability)
    best = fitted[chosen.k]
    model, labels, start, ratio = best.model, best.labels, "cold", None
    if (
        options.warm_start
        and options.algorithm == "kmeans"
        and previous_centers is not None
        and previous_centers.shape == (chosen.k, matrix.shape[1])
    ):
        warm, warm_labels, warm_cost = fit(
            "kmeans", matrix, chosen.k, options.seed, 1, options.max_iter, init=previous_centers
        )
        ratio = warm_cost / chosen.cost if chosen.cost else 1.0
        if ratio <= 1 + WARM_COST_TOLERANCE:
            model, labels, start = warm, warm_labels, "warm"
    stability = segment_stability(labels, masks, best.subsample_labels) if masks else None
    return Selection(scores, chosen, reason, model, start, ratio, stability)
