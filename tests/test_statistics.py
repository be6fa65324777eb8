"""Bootstrap intervals and tests clustered by rendered model, and Holm's correction (course_utils.statistics)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from course_utils import metrics, statistics


def _naive_bootstrap(values, resamples, seed):
    """The textbook bootstrap, written as a loop: resample images one by one."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(resamples):
        draw = rng.integers(0, len(values), len(values))
        means.append(np.mean([values[i] for i in draw]))
    return np.asarray(means)


def _clustered_sample(rng, clusters, per_cluster, spread=1.0, noise=0.1):
    """Images of a few clusters: a random effect per cluster, little noise within it (renders of one model)."""
    effects = rng.normal(0.0, spread, clusters)
    groups = np.repeat(np.arange(clusters), per_cluster)
    return effects[groups] + rng.normal(0.0, noise, groups.size), groups


def test_without_groups_it_is_the_ordinary_bootstrap():
    values = np.random.default_rng(3).normal(size=17)
    means = statistics.bootstrap_means(values, resamples=300, seed=5)
    np.testing.assert_allclose(means, _naive_bootstrap(values, 300, 5), rtol=1e-12)
    mean, low, high = statistics.bootstrap_interval(values, resamples=300, seed=5)
    assert mean == pytest.approx(values.mean())
    assert (low, high) == pytest.approx(tuple(np.percentile(_naive_bootstrap(values, 300, 5), [2.5, 97.5])))


def test_one_image_per_cluster_equals_resampling_images():
    values = np.random.default_rng(0).normal(size=12)
    groups = [f"model{i}" for i in range(12)]
    assert statistics.bootstrap_interval(values, groups=groups, seed=1) == pytest.approx(
        statistics.bootstrap_interval(values, seed=1)
    )


def test_copies_of_an_image_in_its_cluster_do_not_narrow_the_cluster_interval():
    values = np.random.default_rng(1).normal(size=8)
    groups = np.arange(8)
    copies, copy_groups = np.repeat(values, 6), np.repeat(groups, 6)
    clustered = statistics.bootstrap_interval(copies, groups=copy_groups, seed=2)
    assert clustered == pytest.approx(statistics.bootstrap_interval(values, groups=groups, seed=2))
    # Treating the 48 copies as independent images makes the interval about sqrt(6) times too narrow.
    naive = statistics.bootstrap_interval(copies, seed=2)
    assert (naive[2] - naive[1]) < 0.6 * (clustered[2] - clustered[1])


def test_cluster_intervals_cover_the_true_mean_where_image_intervals_do_not():
    rng = np.random.default_rng(7)
    covered = {"clusters": 0, "images": 0}
    trials = 150
    for trial in range(trials):
        values, groups = _clustered_sample(rng, clusters=10, per_cluster=6)
        _, low, high = statistics.bootstrap_interval(values, groups=groups, resamples=400, seed=trial)
        covered["clusters"] += low <= 0.0 <= high
        _, low, high = statistics.bootstrap_interval(values, resamples=400, seed=trial)
        covered["images"] += low <= 0.0 <= high
    # Ten clusters make the percentile interval somewhat narrow (coverage near 0.9); resampling the
    # 60 images as if independent covers the true mean far less often.
    assert covered["clusters"] / trials > 0.82
    assert covered["images"] / trials < 0.65


def test_strata_keep_the_design_in_every_resample():
    labels = np.repeat([0, 1], 6)
    groups = np.repeat(np.arange(4), 3)  # two models per class, three images each
    means = statistics.bootstrap_means(labels.astype(float), groups=groups, strata=labels, resamples=200)
    np.testing.assert_allclose(means, 0.5)  # always as many horses as humans
    free = statistics.bootstrap_means(labels.astype(float), groups=groups, resamples=200)
    assert free.std() > 0.1


def test_stratum_with_one_cluster_and_cluster_across_strata_are_refused():
    values = np.arange(6.0)
    with pytest.raises(ValueError, match="single cluster"):
        statistics.bootstrap_means(values, groups=[0, 0, 0, 1, 2, 3], strata=[0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="two strata"):
        statistics.bootstrap_means(values, groups=[0, 0, 1, 1, 2, 2], strata=[0, 0, 0, 1, 1, 1])


def _shifted_and_centred(rng, shift, size):
    """A sample far from 0 (mean ``shift``, sd 1) and one centred exactly on 0, drawn in that order."""
    shifted = rng.normal(shift, 1.0, size)
    centred = rng.normal(0.0, 1.0, size)
    return shifted, centred - centred.mean()


def test_p_value_agrees_with_the_interval_and_the_data():
    rng = np.random.default_rng(11)
    shifted, centred = _shifted_and_centred(rng, shift=3.0, size=20)
    assert statistics.bootstrap_p_value(shifted, resamples=999) == pytest.approx(2 / 1000)
    assert statistics.bootstrap_p_value(centred, resamples=999) > 0.8
    for seed in range(20):
        values = rng.normal(rng.uniform(-1, 1), 1.0, 15)
        p = statistics.bootstrap_p_value(values, resamples=2000, seed=seed)
        _, low, high = statistics.bootstrap_interval(values, resamples=2000, seed=seed)
        if abs(p - 0.05) > 0.01:  # away from the boundary both must decide alike
            assert (p < 0.05) == (low > 0 or high < 0)


def test_paired_comparison_reports_what_is_behind_it():
    rng = np.random.default_rng(2)
    reference, groups = _clustered_sample(rng, clusters=5, per_cluster=4)
    better = reference - 1.0 + rng.normal(0, 0.05, reference.size)
    result = statistics.paired_comparison(better, reference, groups=groups, resamples=999)
    assert (result.images, result.clusters) == (20, 5)
    assert result.mean == pytest.approx(-1.0, abs=0.05)
    # Every one of the 5 clusters favours the method: the exact sign-flip test's smallest p-value, 2 / 2**5.
    assert result.high < 0 and result.p_value == pytest.approx(2 / 2**5)
    with pytest.raises(ValueError, match="same images"):
        statistics.paired_comparison(better, reference[:-1])


def _holm_by_definition(p_values):
    """Holm (1979) as a rejection rule, for every alpha on a grid: the smallest alpha that rejects each test."""
    m = len(p_values)
    order = np.argsort(p_values)
    adjusted = np.empty(m)
    for rank, index in enumerate(order):
        adjusted[index] = min(1.0, max((m - k) * p_values[order[k]] for k in range(rank + 1)))
    return adjusted


def test_holm_matches_its_definition_and_a_hand_example():
    np.testing.assert_allclose(statistics.holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(4)
    for _ in range(50):
        p = rng.uniform(0, 0.2, rng.integers(1, 12))
        adjusted = statistics.holm_adjust(p)
        np.testing.assert_allclose(adjusted, _holm_by_definition(p))
        assert np.all(adjusted >= p)
        assert np.all(adjusted <= np.minimum(p * len(p), 1.0) + 1e-12)  # never more conservative than Bonferroni


def test_holm_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(5)
    families = rng.uniform(size=(4000, 20))  # twenty true null hypotheses per family
    uncorrected = np.mean((families < 0.05).any(axis=1))
    corrected = np.mean([(statistics.holm_adjust(p) < 0.05).any() for p in families])
    assert uncorrected > 0.5
    assert corrected < 0.065


def test_curve_band_is_the_interval_of_each_fraction():
    curves = np.random.default_rng(6).normal(size=(9, 4))
    groups = [0, 0, 1, 1, 2, 2, 3, 3, 4]
    mean, low, high = statistics.curve_interval(curves, groups=groups, resamples=500, seed=3)
    for column in range(4):
        one = statistics.bootstrap_interval(curves[:, column], groups=groups, resamples=500, seed=3)
        assert (mean[column], low[column], high[column]) == pytest.approx(one)


@pytest.mark.parametrize(
    "call",
    [
        lambda: statistics.bootstrap_interval("0.1 0.2"),
        lambda: statistics.bootstrap_interval([0.1, 0.2], confidence="95%"),
        lambda: statistics.holm_adjust(0.04),
        lambda: statistics.bootstrap_means([0.1, 0.2], groups=3),
    ],
)
def test_wrong_types_raise_type_error(call):
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: statistics.bootstrap_interval([1.0]), "at least 2"),
        (lambda: statistics.bootstrap_interval([1.0, np.nan]), "finite"),
        (lambda: statistics.bootstrap_interval([1.0, 2.0], confidence=1.5), "between 0 and 1"),
        (lambda: statistics.bootstrap_means([1.0, 2.0, 3.0], groups=[0, 1]), "one label per image"),
        (lambda: statistics.holm_adjust([0.2, 1.2]), r"\[0, 1\]"),
        (lambda: statistics.curve_interval([1.0, 2.0]), r"\(N, F\)"),
    ],
)
def test_wrong_values_raise_value_error_saying_what_is_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_metrics_keeps_its_bootstrap_interval():
    values = np.linspace(-1, 2, 10)
    assert metrics.bootstrap_interval(values, resamples=200) == statistics.bootstrap_interval(values, resamples=200)


def test_group_labels_may_be_any_hashable_kind():
    values = np.arange(8.0)
    names = list(itertools.chain.from_iterable([f"horse{i:02d}"] * 2 for i in range(4)))
    numbers = np.repeat(np.arange(4), 2)
    assert statistics.bootstrap_interval(values, groups=names) == statistics.bootstrap_interval(values, groups=numbers)


def test_paired_comparison_is_the_bootstrap_interval_and_the_sign_flip_p_value_of_the_differences():
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.3, 1.0, 14), rng.normal(0.0, 1.0, 14)
    groups, strata = np.repeat(np.arange(7), 2), np.repeat([0, 1], [6, 8])
    found = statistics.paired_comparison(a, b, resamples=700, seed=4, groups=groups, strata=strata)
    interval = statistics.bootstrap_interval(a - b, resamples=700, seed=4, groups=groups, strata=strata)
    p_value = statistics.sign_flip_p_value(a - b, groups=groups)
    assert (found.mean, found.low, found.high) == pytest.approx(interval) and found.p_value == p_value


def _sign_flip_by_enumeration(cluster_sums):
    """The paired randomization test written out: every sign pattern, |sum| at least the observed one."""
    import itertools

    observed = abs(sum(cluster_sums))
    patterns = list(itertools.product((-1, 1), repeat=len(cluster_sums)))
    extreme = sum(abs(sum(s * v for s, v in zip(signs, cluster_sums))) >= observed - 1e-12 for signs in patterns)
    return extreme / len(patterns)


def test_sign_flip_p_value_matches_the_enumeration_and_flips_clusters_together():
    assert statistics.sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    rng = np.random.default_rng(5)
    for _ in range(10):
        values = rng.normal(0.3, 1.0, 7)
        assert statistics.sign_flip_p_value(values) == pytest.approx(_sign_flip_by_enumeration(values))
    values, groups = _clustered_sample(rng, clusters=6, per_cluster=3)
    sums = [values[groups == g].sum() for g in np.unique(groups)]
    assert statistics.sign_flip_p_value(values, groups=groups) == pytest.approx(_sign_flip_by_enumeration(sums))
    # Four photos that all favour one method: the bootstrap claims p = 2 / (B + 1); four cases cannot show that.
    four = np.array([-0.03, -0.05, -0.01, -0.02])
    assert statistics.bootstrap_p_value(four, resamples=1999) == pytest.approx(2 / 2000)
    assert statistics.sign_flip_p_value(four) == pytest.approx(2 / 16)
    assert statistics.paired_comparison(four, np.zeros(4)).p_value == pytest.approx(2 / 16)


def test_sign_flip_p_value_samples_many_clusters_and_still_decides():
    shifted, centred = _shifted_and_centred(np.random.default_rng(8), shift=2.0, size=30)
    assert statistics.sign_flip_p_value(shifted, resamples=999) == pytest.approx(1 / 1000)
    assert statistics.sign_flip_p_value(centred, resamples=999) > 0.9
    with pytest.raises(ValueError, match="1-D"):
        statistics.sign_flip_p_value(np.zeros((3, 2)))


def test_sign_flip_keeps_its_level_with_few_clusters_where_the_bootstrap_does_not():
    """Null data, 6 independent cases: how often does each p-value fall below 0.05?"""
    rng = np.random.default_rng(3)
    trials = 400
    samples = rng.normal(0.0, 1.0, (trials, 6))
    flip = np.mean([statistics.sign_flip_p_value(x) < 0.05 for x in samples])
    boot = np.mean([statistics.bootstrap_p_value(x, resamples=400, seed=k) < 0.05 for k, x in enumerate(samples)])
    assert flip <= 0.05 + 0.02, f"the sign-flip test rejected {flip:.1%} of true nulls"
    assert boot > flip + 0.03, f"the bootstrap rejected {boot:.1%}, the sign-flip test {flip:.1%}"


def test_paired_comparison_samples_sign_patterns_above_sixteen_clusters_and_the_floor_says_so():
    rng = np.random.default_rng(12)
    values, groups = _clustered_sample(rng, clusters=20, per_cluster=2)
    shifted = values + 0.2
    found = statistics.paired_comparison(shifted, np.zeros_like(shifted), groups=groups, seed=3)
    assert found.clusters == 20
    assert found.p_value == statistics.sign_flip_p_value(shifted, groups=groups, seed=3)
    assert statistics.smallest_sign_flip_p_value(10) == pytest.approx(2 / 2**10)
    assert statistics.smallest_sign_flip_p_value(20) == pytest.approx(1 / (statistics.SIGN_FLIP_RESAMPLES + 1))
    # Ties count at any scale: the same data a trillion times smaller gives the same p-value.
    assert statistics.sign_flip_p_value([1e-13, 2e-13, 3e-13]) == pytest.approx(2 / 8)


def test_cohens_d_is_the_mean_difference_in_pooled_standard_deviations():
    first = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    second = np.array([[0.0, 0.0], [2.0, 20.0]])
    pooled = np.sqrt((2 * 4.0 + 1 * 2.0) / 3)   # column 0: variances 4 and 2 (ddof=1)
    d = statistics.cohens_d(first, second)   # means 3 and 1
    np.testing.assert_allclose(d, [2.0 / pooled, 2.0 / pooled])   # column 1 is column 0 in other units: same d
    assert statistics.cohens_d(np.ones((3, 1)), np.ones((2, 1)))[0] == 0.0
    assert statistics.cohens_d(np.ones((3, 1)), np.zeros((2, 1)))[0] == np.inf
    with pytest.raises(ValueError, match="same columns"):
        statistics.cohens_d(np.ones((3, 2)), np.ones((3, 3)))
    # Three 0.1s average to 0.1 plus one rounding step: a pooled deviation of 1e-17 must not make d = 1.
    np.testing.assert_array_equal(statistics.cohens_d(np.full((3, 2), 0.1), np.full((2, 2), 0.1)), [0.0, 0.0])


def test_largest_d_by_chance_holds_its_level_and_passes_a_real_difference():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 12)
    exceeded = [np.abs(statistics.cohens_d(v[labels == 0], v[labels == 1])).max()
                > statistics.largest_d_by_chance(v, labels, resamples=200, seed=s)
                for s, v in enumerate(rng.normal(size=(120, 24, 30)))]
    assert 0.01 <= np.mean(exceeded) <= 0.11, "noise alone passes the 95 % threshold about 5 % of the time"
    values = rng.normal(size=(24, 30))
    values[labels == 0, 7] += 2.0
    d = statistics.cohens_d(values[labels == 0], values[labels == 1])
    assert abs(d[7]) > statistics.largest_d_by_chance(values, labels, resamples=200) > np.sort(np.abs(d))[-2]


def test_largest_d_by_chance_permutes_whole_clusters():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(6), 8)          # 6 rendered models of 8 images each
    labels = (groups >= 3).astype(int)
    # Each model has its own offset: images of one model are alike, so 48 images are 6 cases, not 48.
    values = rng.normal(size=(48, 20)) * 0.2 + rng.normal(size=(6, 20))[groups]
    by_image = statistics.largest_d_by_chance(values, labels, resamples=300)
    by_model = statistics.largest_d_by_chance(values, labels, groups=groups, resamples=300)
    assert by_model > 2 * by_image, "6 clusters make much larger differences by chance than 48 independent images"
    with pytest.raises(ValueError, match="one label"):
        statistics.largest_d_by_chance(values, np.arange(48) % 2, groups=groups)
    with pytest.raises(ValueError, match="exactly two values"):
        statistics.largest_d_by_chance(values, np.arange(48) % 3)
    with pytest.raises(ValueError, match="at least 2 images"):
        statistics.largest_d_by_chance(values, (np.arange(48) == 0).astype(int))
    with pytest.raises(ValueError, match="quantile"):
        statistics.largest_d_by_chance(values, labels, quantile=1.5)
