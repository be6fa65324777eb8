"""Uncertainty of per-image results: bootstrap intervals and tests, clustered by source, and Holm's correction.

A faithfulness score is measured on a handful of images, and images are
rarely independent: the held-out horses-or-humans images are renders of a
few 3D models in many poses, so two images of one rendered person say little
more than one. Resampling images as if independent then makes intervals too
narrow. The **cluster bootstrap** resamples whole clusters (here: rendered
models) with replacement and keeps all images of each drawn cluster
(Davison & Hinkley, 1997, section 3.8; Field & Welsh, 2007); with ``strata``
it resamples clusters within each stratum (each class), so every resample
keeps the design's mix of classes.

Whether two methods differ is tested with a **paired sign-flip test** over
clusters (Fisher, 1935): if the two methods were
interchangeable, each cluster's summed difference would be as likely
positive as negative, so the observed mean is compared with the means of
every pattern of flipped signs. Its level is exact at any sample size under
that null (each cluster's sum symmetric about 0), where the bootstrap's
p-value is not: with four photos that all favour one method, the bootstrap
reports p = 2 / (B + 1) (0.001 for B = 2000), while no test that assumes only
that symmetry can go below 2 / 2^4 = 0.125 on four independent cases.

A table of many such comparisons also needs a **multiple-comparison
correction**: at 95 % one comparison in twenty "separates" by chance. Holm's
step-down procedure (Holm, 1979) controls the family-wise error rate, the
chance of any false verdict in the family, and is uniformly more powerful
than Bonferroni's.

References
----------
Efron & Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
Davison & Hinkley (1997). Bootstrap Methods and their Application. Cambridge University Press.
Field & Welsh (2007). Bootstrapping clustered data. Journal of the Royal Statistical Society B 69(3).
Holm (1979). A Simple Sequentially Rejective Multiple Test Procedure. Scandinavian Journal of Statistics 6(2).
Fisher (1935). The Design of Experiments. Oliver & Boyd (section 21: the paired randomization test).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_utils._core import positive_int

__all__ = [
    "Comparison",
    "bootstrap_means",
    "bootstrap_interval",
    "bootstrap_p_value",
    "sign_flip_p_value",
    "smallest_sign_flip_p_value",
    "curve_interval",
    "holm_adjust",
    "paired_comparison",
    "cohens_d",
    "largest_d_by_chance",
]


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two methods' per-image values (method minus reference).

    Attributes
    ----------
    mean, low, high
        Mean difference and its bootstrap interval at the chosen confidence (not corrected for multiple
        comparisons).
    p_value
        Two-sided p-value of the paired sign-flip test over clusters (:func:`sign_flip_p_value`),
        uncorrected; pass a family of them to :func:`holm_adjust`. Exact for up to 16 clusters, so it
        never falls below ``2 / 2**clusters`` (:func:`smallest_sign_flip_p_value`): few clusters cannot
        show a difference, however clear.
    images, clusters
        How many images and how many independent clusters (rendered models) are behind the numbers.
    """

    mean: float
    low: float
    high: float
    p_value: float
    images: int
    clusters: int


def _check_values(values: Any, what: str = "values") -> np.ndarray:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") and not isinstance(values, np.ndarray):
        raise TypeError(f"{what} must be an array of numbers, one per image, got {type(values).__name__}")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] < 2 or not np.all(np.isfinite(array)):
        raise ValueError(
            f"{what} must be (N,) or (N, F) finite numbers, one row per image for at least 2 images, got shape {array.shape}"
        )
    return array


def _check_labels(labels: Any, size: int, what: str) -> np.ndarray | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"{what} must be a sequence with one label per image (or None), got {type(labels).__name__}")
    array = np.asarray(labels)
    if array.shape != (size,):
        raise ValueError(f"{what} must hold one label per image, shape ({size},), got shape {array.shape}")
    return array


def _check_confidence(confidence: Any, name: str = "confidence") -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise TypeError(f"{name} must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    level = float(confidence)
    if not 0 < level < 1:
        raise ValueError(f"{name} must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    return level


def _cluster_ids(size: int, groups: np.ndarray | None) -> tuple[np.ndarray, int]:
    """An integer cluster per image (each image its own cluster without groups), and the cluster count."""
    if groups is None:
        return np.arange(size), size
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    # Number the clusters in order of first appearance, so that one image per cluster draws exactly
    # what resampling the images would.
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)], int(first.size)


def bootstrap_means(
    values: Any, groups: Any = None, strata: Any = None, resamples: int = 2000, seed: int = 0
) -> np.ndarray:
    """Means of bootstrap resamples of per-image values, resampling whole clusters when ``groups`` is given.

    Parameters
    ----------
    values
        ``(N,)`` or ``(N, F)`` finite numbers, one row per image (a row may be a curve).
    groups
        ``(N,)`` cluster labels (e.g. the rendered model of each image): a resample draws clusters with
        replacement and keeps all their images. None: every image is its own cluster (the ordinary bootstrap).
    strata
        ``(N,)`` stratum labels (e.g. the class); clusters are drawn within each stratum, as many as it
        holds, so every resample keeps the design's strata. A cluster must lie in one stratum, and each
        stratum needs at least 2 clusters (one cluster carries no information about its own variability).
    resamples
        Number of bootstrap resamples, >= 1.
    seed
        Seeds the resampling (>= 0).

    Returns
    -------
    np.ndarray
        float64 ``(resamples,)`` or ``(resamples, F)``: the mean over the images of each resample.

    Raises
    ------
    ValueError
        If a cluster spans two strata or a stratum has fewer than 2 clusters.
    """
    array = _check_values(values)
    size = array.shape[0]
    cluster, clusters = _cluster_ids(size, _check_labels(groups, size, "groups"))
    stratum_labels = _check_labels(strata, size, "strata")
    resamples = positive_int("resamples", resamples)
    rng = np.random.default_rng(positive_int("seed", seed, 0))
    sums = np.zeros((clusters,) + array.shape[1:])
    np.add.at(sums, cluster, array)
    counts = np.bincount(cluster, minlength=clusters).astype(np.float64)
    if stratum_labels is None:
        members = [np.arange(clusters)]
    else:
        _, stratum = np.unique(stratum_labels, return_inverse=True)
        stratum = stratum.reshape(-1)
        of_cluster = np.full(clusters, -1)
        for c, s in zip(cluster, stratum):
            if of_cluster[c] not in (-1, s):
                raise ValueError(f"cluster {c} holds images of two strata; a cluster must lie in one stratum")
            of_cluster[c] = s
        members = [np.flatnonzero(of_cluster == s) for s in range(int(stratum.max()) + 1)]
        single = [str(np.unique(stratum_labels)[s]) for s, m in enumerate(members) if m.size < 2]
        if single:
            raise ValueError(
                f"stratum {', '.join(single)} has a single cluster: its variability cannot be resampled; "
                "pass strata=None, or give it images of at least two clusters"
            )
    drawn = np.concatenate([m[rng.integers(0, m.size, (resamples, m.size))] for m in members], axis=1)
    total = sums[drawn].sum(axis=1)
    weight = counts[drawn].sum(axis=1)
    return total / weight.reshape((-1,) + (1,) * (array.ndim - 1))


def _percentiles(means: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=0)
    return low, high


def bootstrap_interval(
    values: Any,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    groups: Any = None,
    strata: Any = None,
) -> tuple[float, float, float]:
    """Mean of per-image values with a percentile bootstrap interval (Efron & Tibshirani, 1993).

    The interval says how much the mean would move with another draw of
    images (or, with ``groups``, of clusters of images) from the same
    distribution. For a paired comparison of two methods, pass the per-image
    differences: an interval that excludes 0 separates them.

    Parameters
    ----------
    values
        ``(N,)`` finite numbers, one per image, ``N >= 2``.
    confidence
        Coverage of the interval, in (0, 1).
    resamples
        Bootstrap resamples.
    seed
        Seeds the resampling.
    groups, strata
        Resample whole clusters, within strata (see :func:`bootstrap_means`); None: images are resampled
        one by one.

    Returns
    -------
    mean, low, high
    """
    array = _check_values(values)
    if array.ndim != 1:
        raise ValueError(f"values must be a 1-D array, one number per image, got shape {array.shape}")
    level = _check_confidence(confidence)
    low, high = _percentiles(bootstrap_means(array, groups, strata, resamples, seed), level)
    return float(array.mean()), float(low), float(high)


def curve_interval(
    curves: Any,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    groups: Any = None,
    strata: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean curve over images with a pointwise percentile bootstrap band, on the same footing as
    :func:`bootstrap_interval` (same resampling, same confidence), so a plot's bands and a table's intervals agree.

    Parameters
    ----------
    curves
        ``(N, F)`` scores, one curve per image.
    confidence, resamples, seed, groups, strata
        As in :func:`bootstrap_interval`.

    Returns
    -------
    mean, low, high
        float64 ``(F,)`` each.
    """
    array = _check_values(curves, "curves")
    if array.ndim != 2:
        raise ValueError(f"curves must be (N, F), one curve per image, got shape {array.shape}")
    level = _check_confidence(confidence)
    low, high = _percentiles(bootstrap_means(array, groups, strata, resamples, seed), level)
    return array.mean(axis=0), low, high


def bootstrap_p_value(
    values: Any, resamples: int = 2000, seed: int = 0, groups: Any = None, strata: Any = None
) -> float:
    """Two-sided bootstrap p-value of "the mean of ``values`` is 0" (Efron & Tibshirani, 1993, ch. 16).

    Twice the smaller share of resampled means on either side of 0, each
    counted with the observed sample ((k + 1) / (B + 1)), capped at 1. It is
    the smallest ``1 - confidence`` at which the percentile interval of
    :func:`bootstrap_interval` (same resamples and seed) would exclude 0, so
    intervals and p-values tell the same story before any correction.

    Returns
    -------
    float
        In (0, 1].
    """
    means = bootstrap_means(values, groups, strata, resamples, seed)
    if means.ndim != 1:
        raise ValueError("values must be a 1-D array, one number per image")
    return _p_value(means)


#: Up to this many clusters the sign-flip test enumerates every pattern (2**16 = 65,536); above, it samples.
EXACT_SIGN_FLIP_CLUSTERS = 16
#: Random sign patterns :func:`paired_comparison` draws above that many clusters.
SIGN_FLIP_RESAMPLES = 10_000


def smallest_sign_flip_p_value(clusters: int, resamples: int = SIGN_FLIP_RESAMPLES) -> float:
    """The least p-value :func:`sign_flip_p_value` can return for ``clusters`` clusters.

    ``2 / 2**clusters`` when every pattern is enumerated (up to 16 clusters),
    ``1 / (resamples + 1)`` when patterns are sampled. Multiplied by the size
    of a Holm family it says whether any verdict is possible at all.
    """
    clusters = positive_int("clusters", clusters)
    if clusters <= EXACT_SIGN_FLIP_CLUSTERS:
        return min(1.0, 2.0 / 2**clusters)
    return 1.0 / (positive_int("resamples", resamples) + 1)


def sign_flip_p_value(values: Any, groups: Any = None, resamples: int = SIGN_FLIP_RESAMPLES, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip (randomization) test of "the mean of ``values`` is 0".

    ``values`` are per-image differences of two methods. Under the null
    hypothesis that the methods are interchangeable, each cluster's summed
    difference is symmetric about 0, so flipping its sign gives an equally
    likely sample (Fisher, 1935). The p-value is the share of
    sign patterns whose |mean| is at least the observed one: every one of the
    ``2**C`` patterns for ``C <= 16`` clusters (exact), otherwise ``resamples``
    random patterns counted with the observed one ((k + 1) / (B + 1)). Unlike
    a bootstrap p-value it keeps its level with a handful of clusters, and it
    cannot fall below ``2 / 2**C``.

    Parameters
    ----------
    values
        ``(N,)`` finite per-image differences.
    groups
        ``(N,)`` cluster labels (e.g. the rendered model of each image): the
        images of one cluster flip together. None: every image is a cluster.
    resamples
        Random sign patterns when there are more than 16 clusters, >= 1.
    seed
        Seeds those patterns (>= 0).

    Returns
    -------
    float
        In (0, 1].
    """
    array = _check_values(values)
    if array.ndim != 1:
        raise ValueError(f"values must be a 1-D array, one number per image, got shape {array.shape}")
    resamples = positive_int("resamples", resamples)
    seed = positive_int("seed", seed, 0)
    ids, clusters = _cluster_ids(array.size, _check_labels(groups, array.size, "groups"))
    sums = np.bincount(ids, weights=array, minlength=clusters)
    observed = abs(sums.sum())
    tolerance = 1e-12 * float(np.abs(sums).sum())  # ties in floating point count as ties, at any scale
    if clusters <= EXACT_SIGN_FLIP_CLUSTERS:
        patterns = 1 - 2 * ((np.arange(2**clusters)[:, None] >> np.arange(clusters)) & 1)
        return float(np.mean(np.abs(patterns @ sums) >= observed - tolerance))
    rng = np.random.default_rng(seed)
    flipped = np.abs(rng.choice((-1.0, 1.0), size=(resamples, clusters)) @ sums)
    return float((np.count_nonzero(flipped >= observed - tolerance) + 1) / (resamples + 1))


def _p_value(means: np.ndarray) -> float:
    """Two-sided p-value of "the mean is 0" from resampled means (see :func:`bootstrap_p_value`)."""
    below = (np.count_nonzero(means <= 0.0) + 1) / (means.size + 1)
    above = (np.count_nonzero(means >= 0.0) + 1) / (means.size + 1)
    return float(min(1.0, 2.0 * min(below, above)))


def paired_comparison(
    method: Any,
    reference: Any,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    groups: Any = None,
    strata: Any = None,
) -> Comparison:
    """Compare two methods on the same images: a bootstrap interval and a sign-flip test of their differences.

    Pairing cancels what makes an image hard for every method; resampling
    clusters (``groups``) keeps near-duplicate images from counting twice.
    The interval is the cluster bootstrap's; the p-value is the exact
    paired sign-flip test's (:func:`sign_flip_p_value`), which keeps its
    level where the bootstrap's p-value, with a handful of clusters, does not.

    Parameters
    ----------
    method, reference
        ``(N,)`` per-image values (e.g. AUCs) of the two methods on the same images, in the same order.
    confidence, resamples, seed, groups, strata
        As in :func:`bootstrap_interval`.

    Returns
    -------
    Comparison
        ``method - reference``: mean, bootstrap interval, uncorrected sign-flip p-value, images and
        clusters behind them.
    """
    a, b = _check_values(method, "method"), _check_values(reference, "reference")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"method and reference must be (N,) values of the same images, got {a.shape} and {b.shape}")
    difference = a - b
    means = bootstrap_means(difference, groups, strata, resamples, seed)
    low, high = _percentiles(means, _check_confidence(confidence))
    _, clusters = _cluster_ids(a.size, _check_labels(groups, a.size, "groups"))
    p_value = sign_flip_p_value(difference, groups, SIGN_FLIP_RESAMPLES, seed)
    return Comparison(float(difference.mean()), float(low), float(high), p_value, images=int(a.size), clusters=clusters)


def holm_adjust(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, 1979) for a family of tests.

    Sort the ``m`` p-values, multiply the k-th smallest by ``m - k + 1``,
    make the sequence non-decreasing and cap it at 1. Rejecting every
    hypothesis whose adjusted p-value is below ``alpha`` keeps the chance of
    *any* false rejection in the family at most ``alpha``, whatever the
    dependence between the tests.

    Parameters
    ----------
    p_values
        ``(m,)`` p-values in [0, 1], in any order.

    Returns
    -------
    np.ndarray
        float64 ``(m,)`` adjusted p-values, in the input's order; each >= its raw p-value.
    """
    if isinstance(p_values, (str, bytes)) or not hasattr(p_values, "__len__"):
        raise TypeError(f"p_values must be a sequence of numbers in [0, 1], got {type(p_values).__name__}")
    raw = np.asarray(p_values, dtype=np.float64)
    if raw.ndim != 1 or raw.size == 0 or np.any(~np.isfinite(raw)) or np.any((raw < 0) | (raw > 1)):
        raise ValueError(f"p_values must be a non-empty 1-D array of numbers in [0, 1], got {raw!r}")
    order = np.argsort(raw, kind="stable")
    scaled = raw[order] * (raw.size - np.arange(raw.size))
    adjusted = np.empty_like(raw)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def cohens_d(first: Any, second: Any) -> np.ndarray:
    """Standardised mean difference of two groups, column by column (Cohen, 1988).

    ``d = (mean(first) - mean(second)) / s`` with ``s`` the pooled standard
    deviation, ``sqrt(((n1 - 1) s1^2 + (n2 - 1) s2^2) / (n1 + n2 - 2))``. A raw
    difference of means is in the units of each column, so a column with
    large values looks important whatever its spread; ``d`` is in units of
    the column's own spread and compares columns fairly.

    Parameters
    ----------
    first, second
        ``(N1,)`` or ``(N1, F)`` and ``(N2,)`` or ``(N2, F)`` finite numbers,
        at least 2 rows each, the same number of columns.

    Returns
    -------
    numpy.ndarray
        ``(F,)`` float64 (a 0-d array for 1-D inputs); 0 where both groups
        are constant and equal, +-inf where they are constant and differ.
    """
    a, b = _check_values(first, "first"), _check_values(second, "second")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"first and second need the same columns, got shapes {a.shape} and {b.shape}")
    n1, n2 = a.shape[0], b.shape[0]
    pooled = np.sqrt(((n1 - 1) * a.var(axis=0, ddof=1) + (n2 - 1) * b.var(axis=0, ddof=1)) / (n1 + n2 - 2))
    difference = a.mean(axis=0) - b.mean(axis=0)
    # Constant groups are told by their values, not by a pooled deviation that rounding can leave at 1e-17.
    constant = (np.ptp(a, axis=0) == 0) & (np.ptp(b, axis=0) == 0)
    exact = a[0] - b[0]
    between_constants = np.where(exact == 0, 0.0, np.copysign(np.inf, exact))
    return np.where(constant, between_constants, difference / np.where(constant, 1.0, pooled))


def largest_d_by_chance(
    values: Any, labels: Any, groups: Any = None, quantile: float = 0.95, resamples: int = 1000, seed: int = 0
) -> float:
    """The largest ``|cohens_d|`` over the columns that label noise alone reaches, at a quantile.

    When many columns (the filters of a layer, say) are compared between two
    classes, the largest ``|d|`` is large even if no column differs: it is
    the maximum of many noisy numbers. This permutes the labels, recomputes
    every column's ``d`` and keeps the largest ``|d|``; its ``quantile`` over
    ``resamples`` permutations is the threshold that a column must pass
    before its difference is more than noise, for all columns at once (the
    max-statistic permutation test, Westfall & Young, 1993). With ``groups``
    the labels are permuted among clusters, whole clusters keeping one label
    (images of one rendered model are not independent).

    Parameters
    ----------
    values
        ``(N, F)`` finite numbers, one row per image.
    labels
        ``(N,)`` two distinct labels; the ``d`` is first minus second in sorted order,
        but only ``|d|`` matters here.
    groups
        Optional ``(N,)`` cluster of each image; every cluster must carry one label.
    quantile
        Strictly between 0 and 1 (0.95: a noise-only layer passes with probability about 5 %, when
        the labels can be rearranged in many ways; with few clusters, say 2 against 2, there are few
        distinct rearrangements and the threshold is coarse, or out of reach of any column).
    resamples
        Number of permutations (>= 1).
    seed
        Seeds the permutations.

    Returns
    -------
    float
        The threshold on ``|d|``, >= 0.
    """
    array = _check_values(values)
    label_array = _check_labels(labels, array.shape[0], "labels")
    if label_array is None:
        raise ValueError("labels are required: one of two classes per image")
    kinds = np.unique(label_array)
    if kinds.size != 2:
        raise ValueError(f"labels must take exactly two values, got {kinds.size}: {kinds.tolist()[:5]}")
    level = _check_confidence(quantile, "quantile")
    resamples = positive_int("resamples", resamples)
    if min(np.sum(label_array == kind) for kind in kinds) < 2:
        raise ValueError(
            f"each of the two labels needs at least 2 images, got {[int(np.sum(label_array == k)) for k in kinds]}"
        )
    cluster, count = _cluster_ids(array.shape[0], _check_labels(groups, array.shape[0], "groups"))
    cluster_label = np.empty(count, dtype=label_array.dtype)
    cluster_label[cluster] = label_array
    if np.any(cluster_label[cluster] != label_array):
        raise ValueError("every cluster in groups must carry one label (a rendered model is a horse or a human)")
    rng = np.random.default_rng(seed)
    largest = np.full(resamples, np.nan)  # NaN: a rearrangement that leaves a label fewer than 2 images
    for r in range(resamples):
        shuffled = rng.permutation(cluster_label)[cluster]
        first, second = array[shuffled == kinds[0]], array[shuffled == kinds[1]]
        if len(first) >= 2 and len(second) >= 2:
            largest[r] = np.max(np.abs(cohens_d(first, second)))
    if np.all(np.isnan(largest)):
        raise ValueError("no rearrangement of the clusters leaves both labels 2 images or more: too few clusters")
    return float(np.nanquantile(largest, level))
