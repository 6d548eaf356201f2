"""lmfloss_mm.results.stats: mean ± std and paired t-intervals against
hand computations (and scipy when it is installed)."""
import math

import numpy as np
import pytest

from lmfloss_mm.results.stats import (format_mean_std, format_paired,
                                      mean_std, paired_difference, t_cdf,
                                      t_quantile)

#: two-sided 95% critical values of Student's t (printed tables)
T_975 = {1: 12.7062, 2: 4.3027, 4: 2.7764, 9: 2.2622, 19: 2.0930,
         30: 2.0423, 120: 1.9799}


@pytest.mark.parametrize('df', sorted(T_975))
def test_t_quantile_matches_tables(df):
    assert t_quantile(0.975, df) == pytest.approx(T_975[df], abs=6e-5)
    assert t_quantile(0.025, df) == pytest.approx(-T_975[df], abs=6e-5)


def test_t_cdf_properties():
    assert t_cdf(0.0, 5) == pytest.approx(0.5)
    assert t_cdf(2.0, 7) + t_cdf(-2.0, 7) == pytest.approx(1.0)
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi
    for t in (-3.0, -0.5, 0.7, 4.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi,
                                            abs=1e-12)
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4),
                                               rel=1e-9)


def test_t_against_scipy():
    stats = pytest.importorskip('scipy.stats')
    for df in (1, 3, 4, 7, 19, 59, 500):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df),
                                                      rel=1e-9)


def test_t_quantile_rejects_bad_input():
    with pytest.raises(ValueError):
        t_quantile(1.0, 4)
    with pytest.raises(ValueError):
        t_quantile(0.5, 0)


def test_mean_std():
    stat = mean_std([1, 2, 3, 4])
    assert stat.mean == 2.5 and stat.n == 4
    assert stat.std == pytest.approx(math.sqrt(5 / 3))  # ddof=1
    assert format_mean_std(stat) == '2.5 ± 1.3'
    one = mean_std([7.25])
    assert one.mean == 7.25 and math.isnan(one.std)
    assert format_mean_std(one, digits=2) == '7.25'
    assert format_mean_std(mean_std([])) == '–'
    # one rule for every table: n on request, never '± nan'
    assert format_mean_std(stat, digits=2, show_n=True) == '2.50 ± 1.29 (n=4)'
    assert format_mean_std(one, show_n=True) == '7.2 (n=1)'


def test_paired_difference_by_hand():
    a = [3.0, 5.0, 4.0, 6.0, 2.0]
    b = [1.0, 4.0, 4.0, 3.0, 2.0]
    diff = paired_difference(a, b)
    # d = 2, 1, 0, 3, 0: mean 1.2, sample var 6.8 / 4 = 1.7
    half = 2.7764451051977934 * math.sqrt(1.7) / math.sqrt(5)
    assert diff.n == 5 and diff.mean == pytest.approx(1.2)
    assert diff.std == pytest.approx(math.sqrt(1.7))
    assert diff.low == pytest.approx(1.2 - half)  # -0.4189
    assert diff.high == pytest.approx(1.2 + half)  # 2.8189
    assert (diff.wins, diff.losses) == (3, 0)
    assert format_paired(diff) == '+1.2 [-0.4, +2.8]'
    # the interval contains 0 here, and flips sign with the order
    rev = paired_difference(b, a)
    assert (rev.mean, rev.low, rev.high) == pytest.approx(
        (-1.2, -1.2 - half, -1.2 + half))
    assert (rev.wins, rev.losses) == (0, 3)


def test_paired_difference_against_scipy():
    stats = pytest.importorskip('scipy.stats')
    rng = np.random.default_rng(0)
    a, b = rng.normal(50, 5, 10), rng.normal(48, 5, 10)
    diff = paired_difference(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert (diff.low, diff.high) == pytest.approx((ci.low, ci.high),
                                                  rel=1e-9)


def test_paired_difference_small_and_unpaired():
    one = paired_difference([2.0], [1.0])
    assert one.mean == 1.0 and one.n == 1 and math.isnan(one.low)
    assert format_paired(one) == '+1.0'
    assert paired_difference([], []).n == 0
    assert format_paired(paired_difference([], [])) == '–'
    with pytest.raises(ValueError, match='unpaired'):
        paired_difference([1.0, 2.0], [1.0])
