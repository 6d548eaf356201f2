"""Forest plot of paired differences: which method is better than the
references, and how sure is that (``results.md`` of the cross-validated
benchmark, ``tools/plot_results.py``)."""
import math
import textwrap
from typing import Mapping, Optional, Sequence

from matplotlib.figure import Figure

from lmfloss_mm.results.paired import (DEFAULT_REFERENCES, LEADERBOARD_SCALARS,
                                       paired_differences)
from .figures import LOSS_COLOURS, new_figure

__all__ = ['forest_order', 'plot_paired_forest', 'plot_runs_forest']


def forest_order(diffs: Mapping[str, Mapping[str, object]],
                 reference: str) -> list:
    """The methods of ``diffs`` that have a paired difference, best first
    by their mean difference to ``reference`` (``reference`` itself counts
    as 0, a method without that difference comes last)."""
    def key(method):
        if method == reference:
            return (0, -0.0)
        diff = diffs[method].get(reference)
        if diff is None or diff.n == 0:
            return (1, 0.0)
        return (0, -diff.mean)

    shown = [m for m, row in diffs.items() if any(d.n for d in row.values())]
    return sorted(shown, key=key)


def plot_paired_forest(diffs: Mapping[str, Mapping[str, object]],
                       references: Optional[Sequence[str]] = None,
                       metric: str = 'macro-F1', title: str = '') -> Figure:
    """One row per method: the mean paired difference of ``metric`` to
    each reference (a marker per reference) with its 95% interval (a
    line), a vertical line at zero; rows sorted by the difference to the
    first reference, best on top.

    Args:
        diffs (Mapping): method -> reference -> ``PairedDiff`` (``mean``,
            ``low``, ``high``, ``n``), e.g. :func:`~lmfloss_mm.results.
            paired.paired_differences`. Methods without any pair are left
            out; an interval that is nan (one pair) is drawn as a marker.
        references (Sequence[str], optional): The references, in legend
            order. Defaults to those found in ``diffs``, in order of
            appearance.
        metric (str): Name of the metric for the axis label.
        title (str): Figure title.

    Raises:
        ValueError: No method has a paired difference.
    """
    if references is None:
        references = list(dict.fromkeys(
            ref for row in diffs.values() for ref in row))
    methods = forest_order(diffs, references[0]) if references else []
    if not methods:
        raise ValueError('no paired difference to plot: every method needs '
                         'a run with the same fold and seed as a reference')
    fig = new_figure(7.5, max(2.5, 1.2 + 0.38 * len(methods)))
    ax = fig.add_subplot()
    rows = {method: len(methods) - 1 - i for i, method in enumerate(methods)}
    step = 0.5 / max(1, len(references))
    for j, ref in enumerate(references):
        offset = (j - (len(references) - 1) / 2) * step
        colour = LOSS_COLOURS[j % len(LOSS_COLOURS)]
        drawn = False
        for method in methods:
            diff = diffs[method].get(ref)
            if diff is None or diff.n == 0:
                continue
            y = rows[method] + offset
            if not math.isnan(diff.low):
                ax.plot([diff.low, diff.high], [y, y], color=colour, lw=1.5)
            ax.plot([diff.mean], [y], 'o', color=colour, ms=5,
                    label=None if drawn else f'vs {ref} (mean, 95% CI)')
            drawn = True
    ax.axvline(0.0, color='black', lw=0.8)
    ax.set_yticks(range(len(methods)))
    ax.set_yticklabels(list(reversed(methods)))
    ax.set_ylim(-0.7, len(methods) - 0.3)
    ax.set_xlabel(f'paired difference of {metric} (percentage points)')
    ax.grid(axis='x', alpha=0.3)
    ax.legend(loc='best', fontsize='small')
    if title:  # wrapped: a long title would run off the figure
        ax.set_title('\n'.join(textwrap.wrap(title, 70)), fontsize='medium')
    return fig


def plot_runs_forest(runs, references: Sequence[str] = DEFAULT_REFERENCES,
                     metric: str = 'macro_f1',
                     title: str = '') -> Optional[Figure]:
    """:func:`plot_paired_forest` of the paired differences of ``metric``
    between ``runs`` (one dataset x backbone) to each of ``references``
    that has runs (:func:`~lmfloss_mm.results.paired.paired_differences`);
    None when no run pairs up with a reference."""
    losses = {run.loss for run in runs}
    present = [ref for ref in references if ref in losses]
    diffs = paired_differences(runs, present, metric)
    if not any(d.n for row in diffs.values() for d in row.values()):
        return None
    return plot_paired_forest(
        diffs, present, dict(LEADERBOARD_SCALARS).get(metric, metric), title)
