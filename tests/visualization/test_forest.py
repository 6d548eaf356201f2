"""The forest plot of paired differences (lmfloss_mm.visualization.forest):
one row per method, sorted by the difference to the first reference, each
marker and interval where the differences put it."""
import math

import numpy as np
import pytest

from lmfloss_mm.results.stats import PairedDiff, paired_difference
from lmfloss_mm.visualization import (forest_order, plot_paired_forest,
                                      save_figure)
from tests.conftest import assert_png


def diff(mean, half=1.0, n=5):
    return PairedDiff(mean, mean - half, mean + half, 1.0, n, 0, 0)


#: method -> reference -> difference; 'ldam' has a single pair (no
#: interval), 'none' has no pair at all.
DIFFS = {
    'ce': {'lmf': diff(-2.0)},
    'focal': {'ce': diff(1.5), 'lmf': diff(-0.5)},
    'ldam': {'ce': PairedDiff(-1.0, math.nan, math.nan, math.nan, 1, 0, 1),
             'lmf': diff(-3.0)},
    'lmf': {'ce': diff(2.0)},
    'none': {'ce': PairedDiff(math.nan, math.nan, math.nan, math.nan, 0, 0,
                              0)},
    'ce-crt': {'ce': diff(0.5, 2.0), 'lmf': diff(-1.5, 2.0)},
}


def test_rows_are_sorted_by_the_first_reference():
    assert forest_order(DIFFS, 'ce') == ['lmf', 'focal', 'ce-crt', 'ce',
                                         'ldam']
    assert forest_order(DIFFS, 'lmf') == ['lmf', 'focal', 'ce-crt', 'ce',
                                          'ldam']


def test_one_row_per_method_with_its_intervals(tmp_path):
    fig = plot_paired_forest(DIFFS, ['ce', 'lmf'], title='t')
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # best on top: the y axis counts upwards
    assert labels == ['ldam', 'ce', 'ce-crt', 'focal', 'lmf']
    row = {name: y for y, name in enumerate(labels)}
    lines = [line for line in ax.get_lines()
             if len(line.get_xdata()) == 2 and line.get_ydata()[0] ==
             line.get_ydata()[1]]
    intervals = sorted((tuple(np.round(line.get_xdata(), 6)),
                        round(float(line.get_ydata()[0]), 6))
                       for line in lines)
    # vs ce at row - 0.125, vs lmf at row + 0.125 (two references)
    expected = sorted(
        ((round(d.low, 6), round(d.high, 6)),
         round(row[m] + (-0.125 if ref == 'ce' else 0.125), 6))
        for m, refs in DIFFS.items() if m in row
        for ref, d in refs.items() if d.n > 1)
    assert intervals == expected
    markers = [line for line in ax.get_lines()
               if len(line.get_xdata()) == 1 and line.get_marker() == 'o']
    assert len(markers) == 8  # every difference with a pair, ldam's too
    zero = [line for line in ax.get_lines()
            if list(line.get_xdata()) == [0, 0]]
    assert len(zero) == 1
    path = save_figure(fig, str(tmp_path / 'forest.png'))
    assert_png(path)


def test_differences_of_runs_and_no_pairs():
    a, b = [60.0, 62.0, 58.0], [55.0, 61.0, 50.0]
    d = paired_difference(a, b)
    fig = plot_paired_forest({'lmf': {'ce': d}})
    point = [line for line in fig.axes[0].get_lines()
             if line.get_marker() == 'o'][0]
    assert point.get_xdata()[0] == pytest.approx(np.mean(np.subtract(a, b)))
    with pytest.raises(ValueError, match='no paired difference'):
        plot_paired_forest({'none': DIFFS['none']})
