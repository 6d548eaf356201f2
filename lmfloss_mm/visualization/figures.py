"""Matplotlib figures of the insight tools.

Every function returns a :class:`matplotlib.figure.Figure` built without
``pyplot``: no GUI backend is touched, nothing is displayed, and figures are
freed with their last reference.  :func:`save_figure` renders with Agg.
"""
import os
import os.path as osp
from typing import Dict, Mapping, Sequence, Tuple

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Colours of the splits (train, val, test) and of the losses.
SPLIT_COLOURS = {'train': '#4C72B0', 'val': '#DD8452', 'test': '#55A868'}
LOSS_COLOURS = ('#4C72B0', '#DD8452', '#55A868', '#C44E52', '#8172B3',
                '#937860', '#DA8BC3', '#8C8C8C')


def new_figure(width: float, height: float) -> Figure:
    """A figure with the Agg canvas and constrained layout."""
    fig = Figure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str, dpi: int = 120) -> str:
    """Write ``fig`` to ``path`` (format from the extension), creating the
    folder; returns ``path``."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def _width_for(num_classes: int, per_class: float = 0.8,
               minimum: float = 6.0) -> float:
    return max(minimum, 2.0 + per_class * num_classes)


def row_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows divided by their sums (all-zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix),
                     where=sums > 0)


# ------------------------------------------------------------ class counts
def plot_class_counts(stats, log_scale: bool = False,
                      title: str = '') -> Figure:
    """Counts per class and split (top) and what the losses derive from the
    training counts (bottom).

    Top panel: grouped bars, one per split, with the count on each bar;
    class labels carry the shot group.  Bottom panel: LDAM margins (bars,
    left axis, equal to the ``'margins'`` class weights) and ``'bwcce'``
    class weights (line, right axis).

    Args:
        stats (ClassStats): From
            :func:`lmfloss_mm.visualization.compute_class_stats`.
        log_scale (bool): Logarithmic count axis. Defaults to False.
        title (str): Figure title.
    """
    num_classes = stats.num_classes
    fig = new_figure(_width_for(num_classes, 0.9), 7.5)
    ax_counts, ax_margin = fig.subplots(
        2, 1, sharex=True, gridspec_kw=dict(height_ratios=(3, 2)))
    x = np.arange(num_classes)
    width = 0.8 / max(1, len(stats.splits))
    for k, split in enumerate(stats.splits):
        offset = (k - (len(stats.splits) - 1) / 2) * width
        counts = stats.counts[split]
        bars = ax_counts.bar(
            x + offset, counts, width,
            label=f'{split} ({stats.num_samples[split]})',
            color=SPLIT_COLOURS.get(split))
        ax_counts.bar_label(bars, labels=[str(int(c)) for c in counts],
                            fontsize=7, padding=1)
    if log_scale:
        ax_counts.set_yscale('log')
        ax_counts.set_ylim(bottom=0.8)
    ax_counts.set_ylabel('samples' + (' (log scale)' if log_scale else ''))
    # outside the axes, so that it never covers a bar or its count
    ax_counts.legend(title='split (samples)', fontsize=8,
                     loc='upper left', bbox_to_anchor=(1.01, 1.0))
    ax_counts.grid(axis='y', alpha=0.3)
    ratio = stats.imbalance_ratio('train')
    ax_counts.set_title(
        (title + '\n' if title else '') +
        f'class counts; training imbalance ratio {ratio:.1f}')

    if stats.margins is not None:
        ax_margin.bar(x, stats.margins, 0.5, color='#8172B3',
                      label="LDAM margin = 'margins' weight")
        ax_margin.set_ylim(0, stats.max_m * 1.15)
        for xi, m in zip(x, stats.margins):
            ax_margin.text(xi, m, f'{m:.3f}', ha='center', va='bottom',
                           fontsize=7)
    else:
        ax_margin.text(0.5, 0.5, 'margins undefined: a class has no '
                       'training sample', transform=ax_margin.transAxes,
                       ha='center', va='center', color='#C44E52')
    ax_margin.set_ylabel(f'LDAM margin (max_m={stats.max_m:g})')
    ax_margin.grid(axis='y', alpha=0.3)
    handles, labels = ax_margin.get_legend_handles_labels()
    if stats.weights_bwcce is not None:
        ax_weight = ax_margin.twinx()
        line = ax_weight.plot(x, stats.weights_bwcce, 'D', color='#C44E52',
                              label="'bwcce' weight")
        ax_weight.set_ylabel("'bwcce' class weight")
        ax_weight.set_ylim(0, max(stats.weights_bwcce) * 1.25)
        handles += line
        labels += ["'bwcce' weight"]
    if handles:
        ax_margin.legend(handles, labels, fontsize=8, loc='lower left',
                         bbox_to_anchor=(0.0, 1.0), ncol=len(handles))
    ax_margin.set_xticks(
        x, [f'{c}\n({g})' for c, g in zip(stats.classes, stats.groups)],
        rotation=0 if num_classes <= 10 else 45)
    ax_margin.set_xlabel('class (shot group by training count)')
    return fig


# ------------------------------------------------------------- results
def plot_per_class_f1(classes: Sequence[str],
                      table: Mapping[str, Tuple[np.ndarray, np.ndarray, int]],
                      title: str = '') -> Figure:
    """Grouped bars of per-class F1, one bar per loss, with error bars.

    Args:
        classes (Sequence[str]): Class names.
        table (Mapping): loss -> ``(mean (C,), std (C,), n_runs)``, in
            percent; the legend shows each loss's macro-F1 (mean of the
            per-class means) and number of runs.  A mean of 0 is marked
            with a triangle and a ``0`` on the axis.
        title (str): Figure title.
    """
    num_classes = len(classes)
    fig = new_figure(_width_for(num_classes, 0.35 + 0.2 * len(table)), 5)
    ax = fig.subplots()
    x = np.arange(num_classes)
    width = 0.8 / max(1, len(table))
    colours = LOSS_COLOURS if len(table) <= len(LOSS_COLOURS) else [
        matplotlib.colormaps['tab20'](k % 20) for k in range(len(table))]
    for k, (loss, (mean, std, n)) in enumerate(table.items()):
        offset = (k - (len(table) - 1) / 2) * width
        ax.bar(x + offset, mean, width,
               yerr=np.where(np.isfinite(std), std, 0) if n > 1 else None,
               capsize=2, color=colours[k],
               label=f'{loss} (macro {np.mean(mean):.1f}, n={n})',
               error_kw=dict(lw=0.8))
        # an F1 of 0 has no bar to see: mark it, so that it is not taken
        # for a missing value
        for xi in (x + offset)[np.asarray(mean) == 0]:
            ax.plot(xi, 0, marker='^', ms=6, color=colours[k],
                    markeredgecolor='black', mew=0.5, clip_on=False,
                    zorder=3)
            ax.text(xi, 1.5, '0', ha='center', va='bottom', fontsize=7)
    ax.set_xticks(x, classes, rotation=0 if num_classes <= 10 else 45)
    ax.set_ylim(0, 105)
    ax.set_ylabel('F1 (%)')
    ax.set_xlabel('class')
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=8, title='loss (mean over runs ± std; ▲ = 0)',
              title_fontsize=8, loc='upper left',
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title)
    return fig


def plot_confusion_matrix(matrix: np.ndarray, classes: Sequence[str],
                          title: str = '') -> Figure:
    """A row-normalised confusion matrix (rows: ground truth) with the
    percentage and the count in each cell.

    Args:
        matrix (np.ndarray): ``(C, C)`` counts, rows ground truth.
        classes (Sequence[str]): Class names.
        title (str): Figure title.
    """
    counts = np.asarray(matrix)
    normalised = row_normalise(counts)
    num_classes = len(classes)
    side = max(4.5, 1.5 + 0.7 * num_classes)
    fig = new_figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(normalised * 100, cmap='Blues', vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label='% of the true class', shrink=0.8)
    for i in range(num_classes):
        for j in range(num_classes):
            value = normalised[i, j] * 100
            ax.text(j, i, f'{value:.0f}\n({int(counts[i, j])})',
                    ha='center', va='center', fontsize=7,
                    color='white' if value > 55 else 'black')
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, classes, rotation=45, ha='right')
    ax.set_yticks(ticks, [f'{c} ({int(n)})'
                          for c, n in zip(classes, counts.sum(axis=1))])
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class (samples)')
    ax.set_title(title)
    return fig


def plot_reliability_diagram(bins: Dict[str, np.ndarray], ece: float,
                             title: str = '') -> Figure:
    """Accuracy vs confidence per bin, with the ECE in the title.

    Top panel: per-bin accuracy (bars), the gap to the bin's mean
    confidence (hatched) and the diagonal of perfect calibration.  Bottom
    panel: share of the samples in each bin.

    Args:
        bins (dict): From
            :func:`lmfloss_mm.evaluation.functional.calibration_bins`.
        ece (float): Expected calibration error as a fraction.
        title (str): First line of the title.
    """
    edges = bins['edges']
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    filled = bins['count'] > 0
    fig = new_figure(5.5, 6.5)
    ax, ax_hist = fig.subplots(
        2, 1, sharex=True, gridspec_kw=dict(height_ratios=(3, 1)))
    ax.plot([0, 1], [0, 1], '--', color='gray', lw=1,
            label='perfect calibration')
    ax.bar(centres[filled], bins['accuracy'][filled], width, color='#4C72B0',
           edgecolor='black', lw=0.5, label='accuracy')
    gap = bins['confidence'][filled] - bins['accuracy'][filled]
    ax.bar(centres[filled], gap, width, bottom=bins['accuracy'][filled],
           color='#C44E52', alpha=0.35, hatch='//', edgecolor='#C44E52',
           lw=0.5, label='gap to mean confidence')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel('accuracy')
    ax.legend(loc='upper left', fontsize=8)
    ax.grid(alpha=0.3)
    total = int(bins['count'].sum())
    ece_line = (f'ECE = {100 * ece:.2f}% ({len(centres)} bins, '
                f'{total} samples)')
    ax.set_title(f'{title}\n{ece_line}' if title else ece_line, fontsize=9)
    share = bins['count'] / max(1, total)
    ax_hist.bar(centres, share, width, color='#8C8C8C', edgecolor='black',
                lw=0.5)
    ax_hist.set_xlabel('confidence (top-1 probability)')
    ax_hist.set_ylabel('share')
    ax_hist.grid(alpha=0.3)
    return fig
