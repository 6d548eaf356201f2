"""Statistics of results: mean ± std over runs and paired differences.

Standard deviations are sample standard deviations (``ddof=1``).  The
confidence interval of a paired difference is the Student t-interval
``mean(d) ± t_{(1+level)/2, n-1} * std(d) / sqrt(n)`` over the ``n`` pairs;
the t quantile is computed here (no scipy needed).

Formatting follows one rule everywhere (tables, reports, the demo): a
value of several runs is ``mean ± std``, a single run's value is the value
alone, and no value is ``–``.
"""
import math
from typing import NamedTuple, Sequence

import numpy as np

__all__ = ['MeanStd', 'PairedDiff', 'mean_std', 'paired_difference',
           'format_mean_std', 'format_paired', 't_cdf', 't_quantile',
           'NO_VALUE']

#: What a cell without any value shows.
NO_VALUE = '–'


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function
    (modified Lentz; Numerical Recipes, section 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) +
                 a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile ``p`` of Student's t distribution (bisection on
    :func:`t_cdf`, accurate to ~1e-10; no scipy needed)."""
    if not 0 < p < 1:
        raise ValueError(f'p must be in (0, 1), got {p}')
    if df <= 0:
        raise ValueError(f'df must be > 0, got {df}')
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


class MeanStd(NamedTuple):
    """Mean and sample std of ``n`` values (std nan for fewer than two,
    both nan for none)."""
    mean: float
    std: float
    n: int


def mean_std(values: Sequence[float]) -> MeanStd:
    """:class:`MeanStd` of ``values`` (sample std, ``ddof=1``)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return MeanStd(math.nan, math.nan, 0)
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    return MeanStd(float(values.mean()), std, n)


class PairedDiff(NamedTuple):
    """Mean of paired differences with its confidence interval."""
    mean: float
    low: float  # nan when n < 2
    high: float
    std: float
    n: int
    wins: int  # pairs with a positive difference
    losses: int  # pairs with a negative difference


def paired_difference(a: Sequence[float], b: Sequence[float],
                      level: float = 0.95) -> PairedDiff:
    """Mean of ``a - b`` over pairs with its t confidence interval.

    Args:
        a (Sequence[float]): First value of every pair.
        b (Sequence[float]): Second value of every pair (same length).
        level (float): Confidence level. Defaults to 0.95.

    Returns:
        PairedDiff: Mean difference, interval bounds (nan if fewer than two
        pairs), std of the differences, number of pairs, and how many pairs
        have ``a > b`` / ``a < b``.

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f'unpaired values: {a.shape} vs {b.shape}')
    d = a - b
    n = len(d)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if n == 0:
        return PairedDiff(math.nan, math.nan, math.nan, math.nan, 0, 0, 0)
    mean = float(d.mean())
    if n < 2:
        return PairedDiff(mean, math.nan, math.nan, math.nan, n, wins, losses)
    std = float(d.std(ddof=1))
    half = t_quantile((1 + level) / 2, n - 1) * std / math.sqrt(n)
    return PairedDiff(mean, mean - half, mean + half, std, n, wins, losses)


def format_mean_std(stat: MeanStd, digits: int = 1,
                    show_n: bool = False) -> str:
    """``'61.2 ± 3.4'``; ``'61.2'`` for a single value; ``'–'`` for none.

    Args:
        stat (MeanStd): From :func:`mean_std`.
        digits (int): Decimals. Defaults to 1.
        show_n (bool): Append ``' (n=k)'``. Defaults to False.
    """
    if stat.n == 0:
        return NO_VALUE
    text = f'{stat.mean:.{digits}f}'
    if stat.n > 1:
        text += f' ± {stat.std:.{digits}f}'
    return f'{text} (n={stat.n})' if show_n else text


def format_paired(diff: PairedDiff, digits: int = 1) -> str:
    """``'+1.2 [-0.8, +3.1]'`` (no interval for fewer than two pairs,
    ``'–'`` for none)."""
    if diff.n == 0:
        return NO_VALUE
    if math.isnan(diff.low):
        return f'{diff.mean:+.{digits}f}'
    return (f'{diff.mean:+.{digits}f} [{diff.low:+.{digits}f}, '
            f'{diff.high:+.{digits}f}]')
